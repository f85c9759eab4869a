#!/usr/bin/env bash
# The tool behaves like the tools around it (issue 22): --help and `help COMMAND` on stdout
# with exit 0; an unknown option or a missing value is exit 2 with a one-line usage on
# stderr and nothing on stdout (and never echoes an option's =VALUE); `--` ends the
# options; --version lists the libraries; errors go to stderr; the bash completion
# (generated from the option tables) completes commands and options; and no command
# carries its own option-parsing loop. TAP. Usage: test_cli_conventions.sh PATH/TO/phicrypt SRC_DIR
set -u
P=$(realpath "${1:?usage: test_cli_conventions.sh PATH/TO/phicrypt SRC_DIR}")
S=$(realpath "${2:?usage: test_cli_conventions.sh PATH/TO/phicrypt SRC_DIR}")
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-conv-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0; fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
run() { "$@" >"$T/out" 2>"$T/err"; echo $? > "$T/rc"; }
rc() { cat "$T/rc"; }

COMMANDS="init keys encrypt decrypt encrypt-command encrypt-document decrypt-document analyze token tokenize
          detokenize pseudonymize audit deid reid"

# --help / help COMMAND
for c in $COMMANDS; do
  run "$P" "$c" --help; cp "$T/out" "$T/help1"
  if [ "$(rc)" = 0 ] && [ -s "$T/out" ] && [ ! -s "$T/err" ] && head -3 "$T/out" | grep -q "phicrypt $c\( \|$\)"; then
    ok "test_cli_conventions__${c}_help_on_stdout_exit_0"
  else notok "test_cli_conventions__${c}_help_on_stdout_exit_0" "exit $(rc)" "$(head -c 300 "$T/err")"; fi
  run "$P" help "$c"
  if [ "$(rc)" = 0 ] && cmp -s "$T/out" "$T/help1"; then ok "test_cli_conventions__help_${c}_is_${c}_help"
  else notok "test_cli_conventions__help_${c}_is_${c}_help" "exit $(rc)"; fi
done

# unknown options and missing values: exit 2, stderr = message + the usage block (its synopsis,
# at most 3 lines), stdout empty
bad_option() { # NAME ARGS...
  local name=$1; shift
  run "$P" "$@"
  if [ "$(rc)" = 2 ] && [ ! -s "$T/out" ] && grep -q "^Usage: phicrypt" "$T/err" && [ "$(wc -l < "$T/err")" -le 4 ] &&
     ! grep -q "SECRET" "$T/err"; then ok "$name"
  else notok "$name" "exit $(rc)" "$(head -c 400 "$T/err")"; fi
}
for c in $COMMANDS; do
  case $c in keys|token) sub=list ;; audit) sub=verify ;; *) sub= ;; esac
  bad_option "test_cli_conventions__${c}_unknown_option_exit_2_one_line_usage" $c $sub --no-such-option=SECRETVALUE
done
bad_option "test_cli_conventions__missing_value_exit_2" encrypt --key-alt-name patients --algorithm
bad_option "test_cli_conventions__top_level_unknown_option" --no-such-option=SECRETVALUE encrypt
run "$P" encrypt --algorithm
if grep -q "needs a value" "$T/err"; then ok "test_cli_conventions__missing_value_says_so"; else notok "test_cli_conventions__missing_value_says_so" "$(cat "$T/err")"; fi
run "$P" nosuchcommand
if [ "$(rc)" = 2 ] && [ ! -s "$T/out" ] && grep -q "unknown command 'nosuchcommand'" "$T/err"; then ok "test_cli_conventions__unknown_command_exit_2"
else notok "test_cli_conventions__unknown_command_exit_2" "exit $(rc)"; fi
run "$P"
if [ "$(rc)" = 2 ] && [ ! -s "$T/out" ] && grep -q "^Usage: phicrypt" "$T/err"; then ok "test_cli_conventions__no_command_exit_2_usage_on_stderr"
else notok "test_cli_conventions__no_command_exit_2_usage_on_stderr" "exit $(rc)"; fi
run "$P" tokenize --key k --key-version twelve
if [ "$(rc)" = 2 ] && grep -q "key-version: 'twelve' is not a number" "$T/err"; then ok "test_cli_conventions__number_checked"
else notok "test_cli_conventions__number_checked" "exit $(rc)" "$(cat "$T/err")"; fi

# --version
run "$P" --version
if [ "$(rc)" = 0 ] && [ ! -s "$T/err" ] && grep -q "^phicrypt [0-9]" "$T/out" && grep -q "^libmongocrypt [0-9]" "$T/out" &&
   grep -q "^OpenSSL [0-9]" "$T/out" && grep -q "^libsodium [0-9]" "$T/out"; then ok "test_cli_conventions__version_lists_libraries"
else notok "test_cli_conventions__version_lists_libraries" "$(cat "$T/out" "$T/err")"; fi

# `--` ends the options: a key named like an option, and operands after `--` are operands
"$P" init --dir "$T/ks" >/dev/null 2>&1
export PHICRYPT_CONFIG=$T/ks/phicrypt.json
run "$P" token create --algorithm siv -- --dash-name
run2=$(rc)
"$P" token list > "$T/list" 2>/dev/null
if [ "$run2" = 0 ] && grep -q '"--dash-name"' "$T/list"; then ok "test_cli_conventions__double_dash_ends_options"
else notok "test_cli_conventions__double_dash_ends_options" "exit $run2" "$(cat "$T/err" "$T/list")"; fi
run "$P" -- encrypt --help
if [ "$(rc)" = 0 ] && grep -q "^Usage: phicrypt encrypt" "$T/out"; then ok "test_cli_conventions__top_level_double_dash"
else notok "test_cli_conventions__top_level_double_dash" "exit $(rc)"; fi
printf '"x"\n' > "$T/v"
run "$P" encrypt --key-alt-name patients --algorithm random -- extra < "$T/v"
if [ "$(rc)" = 2 ] && grep -q "unexpected argument 'extra'" "$T/err"; then ok "test_cli_conventions__operand_after_double_dash_refused"
else notok "test_cli_conventions__operand_after_double_dash_refused" "exit $(rc)" "$(cat "$T/err")"; fi

# errors to stderr, nothing on stdout, exit 1
run "$P" encrypt --key-alt-name nobody --algorithm random < "$T/v"
if [ "$(rc)" = 1 ] && [ ! -s "$T/out" ] && grep -q "^phicrypt: error:" "$T/err"; then ok "test_cli_conventions__errors_on_stderr_exit_1"
else notok "test_cli_conventions__errors_on_stderr_exit_1" "exit $(rc)" "$(cat "$T/out" "$T/err")"; fi

# messages that say what to do (README for a newcomer)
printf '987-65-4321\n' > "$T/bare"
run "$P" encrypt --key-alt-name patients --algorithm random < "$T/bare"
if [ "$(rc)" = 1 ] && grep -q "values are Extended JSON: quote strings" "$T/err" && ! grep -q "987-65-4321" "$T/err"; then
  ok "test_cli_conventions__bare_value_hint_without_echoing_it"
else notok "test_cli_conventions__bare_value_hint_without_echoing_it" "exit $(rc)" "$(cat "$T/err")"; fi
printf '{\n  "key_vault": "file:x",\n  oops\n}\n' > "$T/bad.json"
run "$P" --config "$T/bad.json" keys list
if [ "$(rc)" = 1 ] && grep -q "invalid JSON at line 3, column " "$T/err"; then ok "test_cli_conventions__config_error_line_and_column"
else notok "test_cli_conventions__config_error_line_and_column" "exit $(rc)" "$(cat "$T/err")"; fi
/usr/bin/python3 -c "print('[' * 150 + ']' * 150)" > "$T/deep"
run "$P" encrypt --key-alt-name patients --algorithm random < "$T/deep"
if [ "$(rc)" = 1 ] && grep -q "nested deeper than 100 levels" "$T/err"; then ok "test_cli_conventions__nesting_limit_named"
else notok "test_cli_conventions__nesting_limit_named" "exit $(rc)" "$(cat "$T/err")"; fi

# bash completion from the tables
run "$P" completion bash
cp "$T/out" "$T/compl.bash"
if [ "$(rc)" = 0 ] && bash -n "$T/compl.bash"; then ok "test_cli_conventions__completion_script_parses"
else notok "test_cli_conventions__completion_script_parses" "exit $(rc)"; fi
complete_words() { # WORDS... -> the completions of the last word
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _phicrypt; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$T/compl.bash" "$@" | sort | tr '\n' ' '
}
got=$(complete_words phicrypt de)
[ "$got" = "decrypt decrypt-document deid detokenize " ] && ok "test_cli_conventions__completes_commands" ||
  notok "test_cli_conventions__completes_commands" "got '$got'"
got=$(complete_words phicrypt encrypt --key)
[ "$got" = "--key-alt-name --key-id " ] && ok "test_cli_conventions__completes_a_commands_options" ||
  notok "test_cli_conventions__completes_a_commands_options" "got '$got'"
got=$(complete_words phicrypt --config x.json keys re)
[ "$got" = "remove-alt-name rewrap " ] && ok "test_cli_conventions__completes_subcommands_after_config" ||
  notok "test_cli_conventions__completes_subcommands_after_config" "got '$got'"
got=$(complete_words phicrypt audit --sin)
[ "$got" = "--since " ] && ok "test_cli_conventions__completes_options_of_every_subcommand_group" ||
  notok "test_cli_conventions__completes_options_of_every_subcommand_group" "got '$got'"
# every option a command's help mentions is completable (the tables and the help agree)
missing=""
for c in $COMMANDS; do
  opts=$(complete_words phicrypt "$c" --)
  for o in $("$P" "$c" --help | grep -o -- '--[a-zA-Z][a-zA-Z-]*' | sort -u); do
    # --jsonArray is mongoexport's option, named in deid's help
    case " $opts --help --config --jsonArray " in *" $o "*) ;; *) missing="$missing $c:$o" ;; esac
  done
done
[ -z "$missing" ] && ok "test_cli_conventions__help_options_are_in_the_tables" ||
  notok "test_cli_conventions__help_options_are_in_the_tables" "missing:$missing"

# one option parser: no command repeats the getopt loop
loops=$(grep -l "getopt_long\|optind" "$S"/examples/cli/*.c | xargs -n1 basename | tr '\n' ' ')
[ "$loops" = "cli_args.c " ] && ok "test_cli_conventions__one_option_parser" ||
  notok "test_cli_conventions__one_option_parser" "getopt in: $loops"

echo "1..$n"
exit $((fails > 0))
