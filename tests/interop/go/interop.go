// The Go side of phicrypt's interop suite (tests/interop/interop.py builds and runs it).
// Debian's golang-mongodb-mongo-driver-dev (1.8.4), built with -tags cse against
// Debian's libmongocrypt; GO111MODULE=off, GOPATH=...:/usr/share/gocode.
// The server (MONGODB_URI) is the suite's test server on 127.0.0.1.
//
//	interop-go check FIXTURE OUT     decrypt another side's fixture (format v1, see
//	    ../README.md) and re-encrypt its deterministic cases; OUT gets
//	    {"decrypted": {name: canonical EJSON}, "reencrypted": {name: base64}}.
//	interop-go produce REQUEST OUT   create a data key (local KMS, REQUEST's master key)
//	    in the server's key vault and encrypt REQUEST's cases: a fixture v1 in OUT.
//
// ClientEncryption.Decrypt returns a bson.RawValue: values keep their BSON type.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/version"
)

type fixtureCase struct {
	Name       string          `json:"name"`
	Algorithm  string          `json:"algorithm"`
	KeyID      json.RawMessage `json:"key_id,omitempty"`
	Value      json.RawMessage `json:"value"`
	Ciphertext json.RawMessage `json:"ciphertext,omitempty"`
}

type fixture struct {
	Format            string            `json:"format,omitempty"`
	Version           int               `json:"version,omitempty"`
	Producer          map[string]string `json:"producer,omitempty"`
	KmsProviders      json.RawMessage   `json:"kms_providers"`
	KeyVaultNamespace string            `json:"key_vault_namespace"`
	Keys              []json.RawMessage `json:"keys,omitempty"`
	Cases             []fixtureCase     `json:"cases"`
}

func die(format string, a ...interface{}) {
	// the driver's messages name the failing step; values are never printed
	fmt.Fprintf(os.Stderr, "interop-go: "+format+"\n", a...)
	os.Exit(1)
}

// rawValue parses one canonical Extended JSON value.
func rawValue(ej json.RawMessage) bson.RawValue {
	var doc bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(`{"v":`+string(ej)+`}`), true, &doc); err != nil {
		die("bad Extended JSON value: %v", err)
	}
	return doc.Lookup("v")
}

// canonical prints one value as canonical Extended JSON.
func canonical(v interface{}) json.RawMessage {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, true, false)
	if err != nil {
		die("cannot print a value: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		die("cannot print a value: %v", err)
	}
	return m["v"]
}

func binary(ej json.RawMessage) primitive.Binary {
	rv := rawValue(ej)
	sub, data, ok := rv.BinaryOK()
	if !ok {
		die("expected BinData")
	}
	return primitive.Binary{Subtype: sub, Data: data}
}

func readFixture(path string) fixture {
	b, err := os.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		die("%s: %v", path, err)
	}
	return fx
}

func clientEncryption(ctx context.Context, kv *mongo.Client, fx fixture) *mongo.ClientEncryption {
	var kms struct {
		Local struct {
			Key json.RawMessage `json:"key"`
		} `json:"local"`
	}
	if err := json.Unmarshal(fx.KmsProviders, &kms); err != nil {
		die("kms_providers: %v", err)
	}
	providers := map[string]map[string]interface{}{"local": {"key": binary(kms.Local.Key).Data}}
	ce, err := mongo.NewClientEncryption(kv, options.ClientEncryption().
		SetKeyVaultNamespace(fx.KeyVaultNamespace).SetKmsProviders(providers))
	if err != nil {
		die("ClientEncryption: %v", err)
	}
	return ce
}

func vault(kv *mongo.Client, ns string) *mongo.Collection {
	i := strings.IndexByte(ns, '.')
	return kv.Database(ns[:i]).Collection(ns[i+1:])
}

func check(ctx context.Context, kv *mongo.Client, in, out string) {
	fx := readFixture(in)
	coll := vault(kv, fx.KeyVaultNamespace)
	// the fixture's key documents into the shared vault, as the producer wrote them
	for _, k := range fx.Keys {
		var doc bson.Raw
		if err := bson.UnmarshalExtJSON(k, true, &doc); err != nil {
			die("key document: %v", err)
		}
		if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: doc.Lookup("_id")}}); err != nil {
			die("key vault delete: %v", err)
		}
		if _, err := coll.InsertOne(ctx, doc); err != nil {
			die("key vault insert: %v", err)
		}
	}
	ce := clientEncryption(ctx, kv, fx)
	defer ce.Close(ctx)
	res := struct {
		Decrypted   map[string]string `json:"decrypted"` // canonical EJSON text, as the other sides
		Reencrypted map[string]string `json:"reencrypted"`
	}{map[string]string{}, map[string]string{}}
	for _, c := range fx.Cases {
		v, err := ce.Decrypt(ctx, binary(c.Ciphertext))
		if err != nil {
			die("decrypt %s: %v", c.Name, err)
		}
		res.Decrypted[c.Name] = string(canonical(v))
		if strings.HasSuffix(c.Algorithm, "-Deterministic") {
			id := binary(c.KeyID)
			ct, err := ce.Encrypt(ctx, rawValue(c.Value), options.Encrypt().SetAlgorithm(c.Algorithm).SetKeyID(id))
			if err != nil {
				die("encrypt %s: %v", c.Name, err)
			}
			res.Reencrypted[c.Name] = base64.StdEncoding.EncodeToString(ct.Data)
		}
	}
	write(out, res)
}

func produce(ctx context.Context, kv *mongo.Client, in, out string) {
	rq := readFixture(in)
	ce := clientEncryption(ctx, kv, rq)
	defer ce.Close(ctx)
	alt := fmt.Sprintf("interop-go-%d", time.Now().UnixNano())
	id, err := ce.CreateDataKey(ctx, "local", options.DataKey().SetKeyAltNames([]string{alt}))
	if err != nil {
		die("CreateDataKey: %v", err)
	}
	var keyDoc bson.Raw
	if err := vault(kv, rq.KeyVaultNamespace).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&keyDoc); err != nil {
		die("the new data key is not in the key vault: %v", err)
	}
	keyJSON, err := bson.MarshalExtJSON(keyDoc, true, false)
	if err != nil {
		die("key document: %v", err)
	}
	fx := rq
	fx.Format, fx.Version = "phicrypt-interop-fixture", 1
	fx.Producer = map[string]string{"name": "go", "version": "mongo-driver " + version.Driver + " (-tags cse)"}
	fx.Keys = []json.RawMessage{keyJSON}
	for i, c := range rq.Cases {
		ct, err := ce.Encrypt(ctx, rawValue(c.Value), options.Encrypt().SetAlgorithm(c.Algorithm).SetKeyID(id))
		if err != nil {
			die("encrypt %s: %v", c.Name, err)
		}
		fx.Cases[i].KeyID = canonical(id)
		fx.Cases[i].Ciphertext = canonical(ct)
	}
	write(out, fx)
}

func write(path string, v interface{}) {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		die("%v", err)
	}
	if err := os.WriteFile(path, b, 0600); err != nil {
		die("%v", err)
	}
}

func main() {
	uri := os.Getenv("MONGODB_URI")
	if !regexp.MustCompile(`^mongodb://127\.0\.0\.1:`).MatchString(uri) {
		fmt.Fprintln(os.Stderr, "interop-go: MONGODB_URI must be a loopback test server (mongodb://127.0.0.1:...)")
		os.Exit(2)
	}
	if len(os.Args) != 4 || (os.Args[1] != "check" && os.Args[1] != "produce") {
		fmt.Fprintln(os.Stderr, "usage: interop-go check FIXTURE OUT | produce REQUEST OUT")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	kv, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		die("connect: %v", err)
	}
	defer kv.Disconnect(ctx)
	if os.Args[1] == "check" {
		check(ctx, kv, os.Args[2], os.Args[3])
	} else {
		produce(ctx, kv, os.Args[2], os.Args[3])
	}
}
