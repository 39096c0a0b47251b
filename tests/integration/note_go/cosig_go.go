// cosig_go.go — C2SP tlog-cosignature/v1 (Ed25519, key type 0x04) as a
// golang.org/x/mod/sumdb/note Verifier, written from the spec alone:
// note.Open hands Verify the note's text and the signature bytes after the
// 4-byte key ID, i.e. the 8-byte big-endian timestamp and the signature over
// "cosignature/v1\ntime <T>\n" || text.
//
//	note_go cosigned LOGVKEY WITNESSVKEY FILE
//
// opens FILE with both verifiers and exits 0 only when both the log's
// signature and the witness's cosignature verify; prints the cosignature's
// timestamp.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type cosigV1 struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
	seen *uint64
}

func (v cosigV1) Name() string    { return v.name }
func (v cosigV1) KeyHash() uint32 { return v.hash }
func (v cosigV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	if ts > 1<<63-1 {
		return false
	}
	m := append([]byte("cosignature/v1\ntime "+strconv.FormatUint(ts, 10)+"\n"), msg...)
	if !ed25519.Verify(v.pub, m, sig[8:]) {
		return false
	}
	*v.seen = ts
	return true
}

// newCosigVerifier parses NAME+HEX+BASE64(0x04 || pk) and checks the key ID.
func newCosigVerifier(vkey string) (cosigV1, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return cosigV1{}, fmt.Errorf("malformed vkey")
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return cosigV1{}, fmt.Errorf("malformed key ID")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return cosigV1{}, fmt.Errorf("not a cosignature/v1 key")
	}
	sum := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	if binary.BigEndian.Uint32(sum[:4]) != uint32(h) {
		return cosigV1{}, fmt.Errorf("key ID does not match")
	}
	return cosigV1{name: parts[0], hash: uint32(h), pub: ed25519.PublicKey(raw[1:]), seen: new(uint64)}, nil
}

func cosignedMain(args []string) {
	if len(args) != 3 {
		die("cosigned LOGVKEY WITNESSVKEY FILE")
	}
	lv, err := note.NewVerifier(args[0])
	if err != nil {
		die("log key: %v", err)
	}
	wv, err := newCosigVerifier(args[1])
	if err != nil {
		die("witness key: %v", err)
	}
	msg, err := os.ReadFile(args[2])
	if err != nil {
		die("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(lv, wv))
	if err != nil {
		die("open: %v", err)
	}
	var log, wit bool
	for _, s := range n.Sigs {
		log = log || (s.Name == lv.Name() && s.Hash == lv.KeyHash())
		wit = wit || (s.Name == wv.Name() && s.Hash == wv.KeyHash())
	}
	if !log || !wit {
		die("verified: log %v, witness %v", log, wit)
	}
	fmt.Println(*wv.seen)
}
