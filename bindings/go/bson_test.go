package phicrypt

// A minimal BSON encoder and field lookup for the tests (the binding itself
// takes and returns BSON bytes and needs no BSON library).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

type E struct {
	K string
	V interface{}
}

// D is an ordered document.
type D []E

type binData struct {
	Subtype byte
	Data    []byte
}

func encodeDoc(d D) []byte {
	var b bytes.Buffer
	for _, e := range d {
		encodeElem(&b, e.K, e.V)
	}
	return frame(b.Bytes())
}

func frame(body []byte) []byte {
	out := make([]byte, 4, len(body)+5)
	binary.LittleEndian.PutUint32(out, uint32(len(body)+5))
	out = append(out, body...)
	return append(out, 0)
}

func encodeElem(b *bytes.Buffer, k string, v interface{}) {
	put := func(t byte) { b.WriteByte(t); b.WriteString(k); b.WriteByte(0) }
	switch x := v.(type) {
	case string:
		put(0x02)
		binary.Write(b, binary.LittleEndian, int32(len(x)+1))
		b.WriteString(x)
		b.WriteByte(0)
	case int32:
		put(0x10)
		binary.Write(b, binary.LittleEndian, x)
	case int64:
		put(0x12)
		binary.Write(b, binary.LittleEndian, x)
	case bool:
		put(0x08)
		if x {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case D:
		put(0x03)
		b.Write(encodeDoc(x))
	case []interface{}:
		put(0x04)
		var a D
		for i, e := range x {
			a = append(a, E{fmt.Sprint(i), e})
		}
		b.Write(encodeDoc(a))
	case binData:
		put(0x05)
		binary.Write(b, binary.LittleEndian, int32(len(x.Data)))
		b.WriteByte(x.Subtype)
		b.Write(x.Data)
	default:
		panic(fmt.Sprintf("bson_test: unsupported %T", v))
	}
}

// lookup finds a dotted path and returns the BSON type and the raw value bytes.
func lookup(doc []byte, path string) (byte, []byte, bool) {
	key, rest, nested := strings.Cut(path, ".")
	i := 4
	for i < len(doc)-1 {
		t := doc[i]
		end := bytes.IndexByte(doc[i+1:], 0) + i + 1
		name := string(doc[i+1 : end])
		v := end + 1
		var n int
		switch t {
		case 0x02:
			n = 4 + int(binary.LittleEndian.Uint32(doc[v:]))
		case 0x03, 0x04:
			n = int(binary.LittleEndian.Uint32(doc[v:]))
		case 0x05:
			n = 5 + int(binary.LittleEndian.Uint32(doc[v:]))
		case 0x10:
			n = 4
		case 0x12, 0x09, 0x01:
			n = 8
		case 0x08:
			n = 1
		case 0x07:
			n = 12
		case 0x0A:
			n = 0
		default:
			return 0, nil, false
		}
		if name == key {
			if nested {
				if t != 0x03 && t != 0x04 {
					return 0, nil, false
				}
				return lookup(doc[v:v+n], rest)
			}
			return t, doc[v : v+n], true
		}
		i = v + n
	}
	return 0, nil, false
}

func lookupString(doc []byte, path string) (string, bool) {
	t, v, ok := lookup(doc, path)
	if !ok || t != 0x02 {
		return "", false
	}
	return string(v[4 : len(v)-1]), true
}

// isEncrypted: a binary subtype 6 value at path.
func isEncrypted(doc []byte, path string) bool {
	t, v, ok := lookup(doc, path)
	return ok && t == 0x05 && v[4] == 6
}
