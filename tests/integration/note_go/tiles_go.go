// tiles_go.go — note_go's `tiles` command: the server's log as C2SP
// tlog-tiles, checked by Go's golang.org/x/mod/sumdb/tlog (Debian
// golang-golang-x-mod-dev), fetched over HTTPS from the real server.
//
//	note_go tiles URL VKEY PIN [OLDSIZE]
//
// URL is the log's prefix (https://127.0.0.1:PORT/v1/log), VKEY the log's
// verifier key, PIN the SHA-256 of the server certificate (hex). It opens
// URL/checkpoint with sumdb/note, reads the Merkle tree through
// tlog.TileHashReader over URL/tile/... (which checks every tile it uses
// against the checkpoint's tree hash), and requires that
//   - tlog.TreeHash over the tiles is the checkpoint's root;
//   - every entry bundle has one entry per leaf, each hashing
//     (tlog.RecordHash) to the leaf hash the tiles hold;
//   - tlog.ProveRecord / CheckRecord succeed for a spread of indices and
//     fail for a wrong record;
//   - for a spread of older sizes (and OLDSIZE when given) the tree hash
//     from the tiles is the root of the server's checkpoint of that size,
//     and tlog.ProveTree / CheckTree succeed (and fail for a wrong root);
//   - a tampered tile, or a tree head with a wrong root, is refused by
//     TileHashReader; tiles past the tree and Go's own tile path form
//     (tile/8/L/N: the height is in Go's path, not in C2SP's) are 404.
//
// Exit 0 and one summary line on stdout when everything holds; exit 1 with
// the first failure on stderr otherwise.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

type fetcher struct {
	base     string
	client   *http.Client
	requests int
}

func newFetcher(base, pin string) *fetcher {
	want, err := hex.DecodeString(pin)
	if err != nil || len(want) != sha256.Size {
		die("pin: 64 hex digits")
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			// The server's certificate is self-signed and pinned, as the devices do.
			InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 {
					return errors.New("no certificate")
				}
				if sum := sha256.Sum256(raw[0]); !bytes.Equal(sum[:], want) {
					return errors.New("certificate does not match the pin")
				}
				return nil
			},
		},
	}
	return &fetcher{base: strings.TrimSuffix(base, "/"), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// get fetches base+path and requires status want; returns the body and headers.
func (f *fetcher) get(path string, want int) ([]byte, http.Header) {
	f.requests++
	resp, err := f.client.Get(f.base + path)
	if err != nil {
		die("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		die("GET %s: %v", path, err)
	}
	if resp.StatusCode != want {
		die("GET %s: status %d, want %d (%q)", path, resp.StatusCode, want, body)
	}
	return body, resp.Header
}

// c2spPath is the C2SP form of Go's tile path: Go writes tile/H/L/N[.p/W]
// (tile/H/data/N for record data), tlog-tiles tile/L/N[.p/W] and
// tile/entries/N[.p/W]; N and .p/W are encoded alike.
func c2spPath(t tlog.Tile, entries bool) string {
	p := t.Path()
	prefix := fmt.Sprintf("tile/%d/%d/", t.H, t.L)
	if t.H != tileHeight || !strings.HasPrefix(p, prefix) {
		die("unexpected Go tile path %s", p)
	}
	if entries {
		return "/tile/entries/" + strings.TrimPrefix(p, prefix)
	}
	return "/tile/" + strings.TrimPrefix(p, fmt.Sprintf("tile/%d/", t.H))
}

func needHeader(h http.Header, name, want, what string) {
	if got := h.Get(name); got != want {
		die("%s: %s %q, want %q", what, name, got, want)
	}
}

// cacheOK: full tiles are immutable, partial ones short-lived.
func cacheOK(h http.Header, full bool, what string) {
	cc := h.Get("Cache-Control")
	imm := strings.Contains(cc, "immutable")
	if !strings.Contains(cc, "max-age=") || imm != full {
		die("%s: Cache-Control %q (full tile: %v)", what, cc, full)
	}
}

// tileReader is the tlog.TileReader over the server. Tiles that
// TileHashReader verified and saved are kept, as a client keeps them; a
// reader with tamper set flips a byte of every tile it returns.
type tileReader struct {
	f      *fetcher
	saved  map[string][]byte
	tamper bool
	served int
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := c2spPath(t, false)
		if b, ok := r.saved[path]; ok && !r.tamper {
			out[i] = b
			continue
		}
		body, h := r.f.get(path, http.StatusOK)
		r.served++
		needHeader(h, "Content-Type", "application/octet-stream", path)
		cacheOK(h, t.W == 1<<tileHeight, path)
		if len(body) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(body), t.W*tlog.HashSize)
		}
		if r.tamper {
			body[len(body)/2] ^= 1
		}
		out[i] = body
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	if r.tamper {
		return
	}
	for i, t := range tiles {
		r.saved[c2spPath(t, false)] = data[i]
	}
}

// openCheckpoint fetches and opens a checkpoint note: origin, size, root.
func openCheckpoint(f *fetcher, path string, v note.Verifier) (string, int64, tlog.Hash) {
	body, h := f.get(path, http.StatusOK)
	needHeader(h, "Content-Type", "text/plain; charset=utf-8", path)
	if h.Get("Cache-Control") == "" {
		die("%s: no Cache-Control", path)
	}
	n, err := note.Open(body, note.VerifierList(v))
	if err != nil {
		die("%s: note.Open: %v", path, err)
	}
	// C2SP tlog-checkpoint: origin, decimal size, base64 root, then extensions (none here).
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		die("%s: checkpoint body %q", path, n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		die("%s: size %q", path, lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		die("%s: root %q", path, lines[2])
	}
	var root tlog.Hash
	copy(root[:], raw)
	return lines[0], size, root
}

func tilesMain(args []string) {
	if len(args) != 3 && len(args) != 4 {
		die("tiles URL VKEY PIN [OLDSIZE]")
	}
	f := newFetcher(args[0], args[2])
	v, err := note.NewVerifier(args[1])
	if err != nil {
		die("verifier key %q: %v", args[1], err)
	}
	var oldSize int64 = -1
	if len(args) == 4 {
		if oldSize, err = strconv.ParseInt(args[3], 10, 64); err != nil || oldSize < 1 {
			die("OLDSIZE %q", args[3])
		}
	}
	origin, size, root := openCheckpoint(f, "/checkpoint", v)
	if origin != v.Name() {
		die("checkpoint origin %q, key %q", origin, v.Name())
	}
	if size < 2 || (oldSize > size) {
		die("tree of size %d (OLDSIZE %d): too small for this check", size, oldSize)
	}
	tree := tlog.Tree{N: size, Hash: root}
	tr := &tileReader{f: f, saved: map[string][]byte{}}
	hr := tlog.TileHashReader(tree, tr)

	// The tree hash from the tiles is the checkpoint's root.
	th, err := tlog.TreeHash(size, hr)
	if err != nil {
		die("TreeHash(%d) over the tiles: %v", size, err)
	}
	if th != root {
		die("TreeHash(%d) over the tiles = %v, checkpoint root %v", size, th, root)
	}

	// Every entry of every bundle hashes to its leaf in the tiles.
	leaves := make([]tlog.Hash, size)
	bundles := 0
	for n := int64(0); n*256 < size; n++ {
		w := size - n*256
		if w > 256 {
			w = 256
		}
		path := c2spPath(tlog.Tile{H: tileHeight, L: 0, N: n, W: int(w)}, true)
		body, h := f.get(path, http.StatusOK)
		needHeader(h, "Content-Type", "application/octet-stream", path)
		cacheOK(h, w == 256, path)
		bundles++
		idx := make([]int64, w)
		for i := range idx {
			idx[i] = tlog.StoredHashIndex(0, n*256+int64(i))
		}
		hs, err := hr.ReadHashes(idx)
		if err != nil {
			die("ReadHashes for bundle %d: %v", n, err)
		}
		for i := int64(0); i < w; i++ {
			if len(body) < 2 {
				die("%s: entry %d: truncated", path, i)
			}
			l := int(body[0])<<8 | int(body[1])
			if l != 41 || len(body) < 2+l {
				die("%s: entry %d: length %d", path, i, l)
			}
			entry := body[2 : 2+l]
			body = body[2+l:]
			if entry[0] != 1 && entry[0] != 2 {
				die("%s: entry %d: type %d", path, i, entry[0])
			}
			leaves[n*256+i] = tlog.RecordHash(entry)
			if leaves[n*256+i] != hs[i] {
				die("%s: entry %d hashes to %v, tile has %v", path, i, leaves[n*256+i], hs[i])
			}
		}
		if len(body) != 0 {
			die("%s: %d bytes after the last entry", path, len(body))
		}
	}

	// Inclusion proofs.
	records := 0
	for _, i := range []int64{0, 1, 255, 256, 257, size / 2, size - 2, size - 1} {
		if i < 0 || i >= size {
			continue
		}
		p, err := tlog.ProveRecord(size, i, hr)
		if err != nil {
			die("ProveRecord(%d, %d): %v", size, i, err)
		}
		if err := tlog.CheckRecord(p, size, root, i, leaves[i]); err != nil {
			die("CheckRecord(%d, %d): %v", size, i, err)
		}
		wrong := leaves[i]
		wrong[0] ^= 1
		if tlog.CheckRecord(p, size, root, i, wrong) == nil {
			die("CheckRecord(%d, %d) accepted a wrong record", size, i)
		}
		records++
	}

	// Older trees: the tiles' tree hash is the server's checkpoint of that
	// size, and the consistency proof holds.
	trees := 0
	for _, m := range []int64{1, 255, 256, 257, size / 3, oldSize, size - 1} {
		if m < 1 || m >= size {
			continue
		}
		hm, err := tlog.TreeHash(m, hr)
		if err != nil {
			die("TreeHash(%d): %v", m, err)
		}
		_, cs, croot := openCheckpoint(f, fmt.Sprintf("/checkpoint?size=%d", m), v)
		if cs != m || croot != hm {
			die("checkpoint of size %d: size %d root %v; tiles give %v", m, cs, croot, hm)
		}
		p, err := tlog.ProveTree(size, m, hr)
		if err != nil {
			die("ProveTree(%d, %d): %v", size, m, err)
		}
		if err := tlog.CheckTree(p, size, root, m, hm); err != nil {
			die("CheckTree(%d, %d): %v", size, m, err)
		}
		wrong := hm
		wrong[31] ^= 1
		if tlog.CheckTree(p, size, root, m, wrong) == nil {
			die("CheckTree(%d, %d) accepted a wrong old root", size, m)
		}
		trees++
	}

	// TileHashReader refuses a tampered tile and a tree head with another root.
	bad := &tileReader{f: f, saved: map[string][]byte{}, tamper: true}
	if _, err := tlog.TreeHash(size, tlog.TileHashReader(tree, bad)); err == nil {
		die("TileHashReader accepted tampered tiles")
	}
	other := tree
	other.Hash[0] ^= 1
	if _, err := tlog.TreeHash(size, tlog.TileHashReader(other, &tileReader{f: f, saved: map[string][]byte{}})); err == nil {
		die("TileHashReader accepted tiles for a tree head with another root")
	}

	// Tiles beyond the tree, and Go's own path form, are not there.
	for _, p := range []string{
		c2spPath(tlog.Tile{H: tileHeight, L: 0, N: (size + 255) / 256, W: 1}, false),
		c2spPath(tlog.Tile{H: tileHeight, L: 0, N: (size + 255) / 256, W: 256}, true),
		c2spPath(tlog.Tile{H: tileHeight, L: 7, N: 0, W: 1}, false),
		"/" + tlog.Tile{H: tileHeight, L: 0, N: 0, W: 1}.Path(),
	} {
		_, h := f.get(p, http.StatusNotFound)
		needHeader(h, "Cache-Control", "no-store", p)
	}

	fmt.Printf("tlog: size %d, root = tree hash of the tiles; %d tiles (%d fetched), %d bundles of %d entries, %d record proofs, %d tree proofs, tampering refused; %d requests\n",
		size, len(tr.saved), tr.served, bundles, size, records, trees, f.requests)
}
