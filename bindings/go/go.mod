module phicrypt.dev/phicrypt

go 1.19
