// note_go — the independent side of the checkpoint interop test: Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog (Debian golang-golang-x-mod-dev),
// built offline by tests/integration/checkpoint_go.sh with
// GOPATH=/usr/share/gocode and GO111MODULE=off. Nothing here shares code with
// protocol/.
//
//	note_go verify VKEY FILE      open the signed note in FILE with the
//	                              verifier key VKEY; print its text; exit 1
//	                              with Go's error when it does not verify
//	note_go sign NAME SEEDHEX FILE [WITNESS SEEDHEX]
//	                              sign the text in FILE with the Ed25519 key
//	                              of the 32-byte seed under key name NAME
//	                              (and, given, a second signer): print the note
//	note_go vkey NAME SEEDHEX     print the verifier key of that key
//	note_go tiles URL VKEY PIN [OLDSIZE]
//	                              check the log at URL as C2SP tlog-tiles with
//	                              golang.org/x/mod/sumdb/tlog (tiles_go.go)
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "note_go: "+f+"\n", a...)
	os.Exit(1)
}

// keys builds the signed-note signer and verifier keys of a seed.
func keys(name, seedHex string) (string, string) {
	seed, err := hex.DecodeString(seedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		die("seed: 64 hex digits")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	// The signer key format of sumdb/note: PRIVATE+KEY+name+hash+base64(alg||seed).
	v, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		die("verifier key: %v", err)
	}
	parts := strings.SplitN(v, "+", 3)
	skey := "PRIVATE+KEY+" + name + "+" + parts[1] + "+" +
		base64.StdEncoding.EncodeToString(append([]byte{1}, seed...))
	return skey, v
}

func signer(name, seedHex string) note.Signer {
	skey, _ := keys(name, seedHex)
	s, err := note.NewSigner(skey)
	if err != nil {
		die("signer: %v", err)
	}
	return s
}

func main() {
	if len(os.Args) < 2 {
		die("usage: verify VKEY FILE | sign NAME SEEDHEX FILE [NAME2 SEEDHEX2] | vkey NAME SEEDHEX | tiles URL VKEY PIN [OLDSIZE] | cosigned LOGVKEY WITNESSVKEY FILE")
	}
	switch os.Args[1] {
	case "verify":
		if len(os.Args) != 4 {
			die("verify VKEY FILE")
		}
		v, err := note.NewVerifier(os.Args[2])
		if err != nil {
			die("verifier key %q: %v", os.Args[2], err)
		}
		msg, err := os.ReadFile(os.Args[3])
		if err != nil {
			die("%v", err)
		}
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			die("open: %v", err)
		}
		fmt.Print(n.Text)
	case "sign":
		if len(os.Args) != 5 && len(os.Args) != 7 {
			die("sign NAME SEEDHEX FILE [NAME2 SEEDHEX2]")
		}
		text, err := os.ReadFile(os.Args[4])
		if err != nil {
			die("%v", err)
		}
		signers := []note.Signer{signer(os.Args[2], os.Args[3])}
		if len(os.Args) == 7 {
			signers = append(signers, signer(os.Args[5], os.Args[6]))
		}
		msg, err := note.Sign(&note.Note{Text: string(text)}, signers...)
		if err != nil {
			die("sign: %v", err)
		}
		os.Stdout.Write(msg)
	case "vkey":
		if len(os.Args) != 4 {
			die("vkey NAME SEEDHEX")
		}
		_, v := keys(os.Args[2], os.Args[3])
		fmt.Println(v)
	case "tiles":
		tilesMain(os.Args[2:])
	case "cosigned":
		cosignedMain(os.Args[2:])
	default:
		die("unknown command %q", os.Args[1])
	}
}
