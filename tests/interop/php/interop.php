<?php
// The PHP side of phicrypt's interop suite (tests/interop/interop.py runs it).
// Debian's php8.2-mongodb (ext-mongodb 1.15), which bundles its own libmongocrypt
// (1.5.2): the implementation furthest from phicrypt's Debian libmongocrypt.
// The server (MONGODB_URI) is the suite's test server on 127.0.0.1.
//
//   php interop.php check FIXTURE OUT     decrypt another side's fixture (format v1, see
//       ../README.md) and re-encrypt its deterministic cases; OUT gets
//       {"decrypted": {name: canonical EJSON}, "reencrypted": {name: base64}}.
//   php interop.php produce REQUEST OUT   create a data key (local KMS, REQUEST's master
//       key) in the server's key vault and encrypt REQUEST's cases: a fixture v1 in OUT.
//
// Values come back as PHP values (int, float, stdClass ...) and are printed as
// canonical Extended JSON: what a PHP application gets.
declare(strict_types=1);

use MongoDB\BSON;
use MongoDB\Driver\BulkWrite;
use MongoDB\Driver\ClientEncryption;
use MongoDB\Driver\Manager;
use MongoDB\Driver\Query;

function fail(string $msg): void
{
    fwrite(STDERR, "interop.php: $msg\n");
    exit(1);
}

function from_ejson($v)
{
    // canonical Extended JSON (as decoded by json_decode) -> PHP value with BSON types
    return BSON\toPHP(BSON\fromJSON(json_encode(['v' => $v], JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)))->v;
}

function to_ejson($v): string
{
    $doc = BSON\toCanonicalExtendedJSON(BSON\fromPHP(['v' => $v]));
    return json_encode(json_decode($doc)->v, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
}

function read_json(string $path)
{
    $t = file_get_contents($path);
    if ($t === false) {
        fail("cannot read $path");
    }
    return json_decode($t);
}

function kms($fx): array
{
    $k = $fx->kms_providers->local->key->{'$binary'}->base64;
    return ['local' => ['key' => new BSON\Binary(base64_decode($k, true), 0)]];
}

function split_ns(string $ns): array
{
    $i = strpos($ns, '.');
    return [substr($ns, 0, $i), substr($ns, $i + 1)];
}

function check(Manager $m, string $fixture, string $out): void
{
    $fx = read_json($fixture);
    [$db, $coll] = split_ns($fx->key_vault_namespace);
    // the fixture's key documents into the shared vault, as the producer wrote them
    $bw = new BulkWrite();
    foreach ($fx->keys as $k) {
        $doc = from_ejson($k);
        $bw->delete(['_id' => $doc->_id]);
        $bw->insert($doc);
    }
    $m->executeBulkWrite($fx->key_vault_namespace, $bw);
    $ce = $m->createClientEncryption(['keyVaultNamespace' => $fx->key_vault_namespace, 'kmsProviders' => kms($fx)]);
    $decrypted = [];
    $reencrypted = [];
    foreach ($fx->cases as $c) {
        $decrypted[$c->name] = to_ejson($ce->decrypt(from_ejson($c->ciphertext)));
        if (str_ends_with($c->algorithm, '-Deterministic')) {
            $ct = $ce->encrypt(from_ejson($c->value), ['keyId' => from_ejson($c->key_id), 'algorithm' => $c->algorithm]);
            $reencrypted[$c->name] = base64_encode($ct->getData());
        }
    }
    file_put_contents($out, json_encode(['decrypted' => $decrypted, 'reencrypted' => $reencrypted]));
}

function produce(Manager $m, string $request, string $out): void
{
    $rq = read_json($request);
    [$db, $coll] = split_ns($rq->key_vault_namespace);
    $ce = $m->createClientEncryption(['keyVaultNamespace' => $rq->key_vault_namespace, 'kmsProviders' => kms($rq)]);
    $keyId = $ce->createDataKey('local', ['keyAltNames' => ['interop-php-' . bin2hex(random_bytes(6))]]);
    $keys = $m->executeQuery($rq->key_vault_namespace, new Query(['_id' => $keyId]))->toArray();
    if (count($keys) !== 1) {
        fail('the new data key is not in the key vault');
    }
    $cases = [];
    foreach ($rq->cases as $c) {
        $ct = $ce->encrypt(from_ejson($c->value), ['keyId' => $keyId, 'algorithm' => $c->algorithm]);
        $cases[] = [
            'name' => $c->name,
            'algorithm' => $c->algorithm,
            'key_id' => json_decode(to_ejson($keyId)),
            'value' => $c->value,
            'ciphertext' => json_decode(to_ejson($ct)),
        ];
    }
    $ri = new ReflectionExtension('mongodb');
    $fx = [
        'format' => 'phicrypt-interop-fixture',
        'version' => 1,
        'producer' => ['name' => 'php', 'version' => 'ext-mongodb ' . $ri->getVersion() . ' (bundled libmongocrypt), PHP ' . PHP_VERSION],
        'kms_providers' => $rq->kms_providers,
        'key_vault_namespace' => $rq->key_vault_namespace,
        'keys' => [json_decode(to_ejson($keys[0]))],
        'cases' => $cases,
    ];
    file_put_contents($out, json_encode($fx, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT));
}

$uri = getenv('MONGODB_URI');
if (!$uri || !preg_match('#^mongodb://127\.0\.0\.1:#', $uri)) {
    fwrite(STDERR, "interop.php: MONGODB_URI must be a loopback test server (mongodb://127.0.0.1:...)\n");
    exit(2);
}
if ($argc !== 4 || !in_array($argv[1], ['check', 'produce'], true)) {
    fwrite(STDERR, "usage: php interop.php check FIXTURE OUT | produce REQUEST OUT\n");
    exit(2);
}
try {
    $m = new Manager($uri);
    $argv[1] === 'check' ? check($m, $argv[2], $argv[3]) : produce($m, $argv[2], $argv[3]);
} catch (Throwable $e) {
    // the driver's message names the failing step; values are never printed
    fail($argv[1] . ': ' . $e->getMessage());
}
