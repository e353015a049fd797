// tarread prints what Go's archive/tar reads from a tar stream on stdin, as one JSON document:
// every header Next returns (all fields, byte strings base64-encoded as Go's encoding/json does
// for []byte), the SHA-256 of the bytes Read returns for it, and the error that ended the walk.
//
// It is the reference that ocidiff's own tar reader is tested against: Docker, containerd,
// BuildKit, Podman and buildah read layers with this package. Standard library only:
//
//	go run . < layer.tar
//
// With -serve it reads many streams, each framed by its length (8 bytes, little-endian), and
// answers each with one JSON line: one process serves a whole property test.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"hash"
	"io"
	"os"
	"runtime"
	"sort"
)

type pair struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

type stamp struct {
	Secs  int64 `json:"secs"`
	Nanos int   `json:"nanos"`
}

type entry struct {
	Typeflag   byte    `json:"typeflag"`
	Name       []byte  `json:"name"`
	Linkname   []byte  `json:"linkname"`
	Size       int64   `json:"size"`
	Mode       int64   `json:"mode"`
	Uid        int     `json:"uid"`
	Gid        int     `json:"gid"`
	Uname      []byte  `json:"uname"`
	Gname      []byte  `json:"gname"`
	ModTime    *stamp  `json:"mtime"`
	AccessTime *stamp  `json:"atime"`
	ChangeTime *stamp  `json:"ctime"`
	Devmajor   int64   `json:"devmajor"`
	Devminor   int64   `json:"devminor"`
	Xattrs     []pair  `json:"xattrs"`
	PAXRecords []pair  `json:"pax"`
	Format     int     `json:"format"`
	Content    string  `json:"content"` // the fingerprint of the content
	ContentLen int64   `json:"content_len"`
	ReadError  *string `json:"read_error"`
}

// fingerprint hashes content in 1 MiB chunks at fixed offsets, an all-zero chunk as one byte
// 'Z': sparse files with holes of many GB read in seconds, and any difference still shows.
type fingerprint struct {
	hash  hash.Hash
	chunk []byte
	n     int64
}

const chunkSize = 1 << 20

var zeroChunk = make([]byte, chunkSize)

func (f *fingerprint) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(f.chunk[len(f.chunk):chunkSize], p)
		f.chunk = f.chunk[:len(f.chunk)+k]
		p = p[k:]
		if len(f.chunk) == chunkSize {
			f.flush()
		}
	}
	f.n += int64(n)
	return n, nil
}

func (f *fingerprint) flush() {
	if len(f.chunk) == chunkSize && bytes.Equal(f.chunk, zeroChunk) {
		f.hash.Write([]byte{'Z'})
	} else {
		f.hash.Write(f.chunk)
	}
	f.chunk = f.chunk[:0]
}

func (f *fingerprint) sum() string {
	f.flush()
	return hex.EncodeToString(f.hash.Sum(nil))
}

type result struct {
	Go      string  `json:"go"`
	Entries []entry `json:"entries"`
	Error   *string `json:"error"`
}

func when(t interface {
	IsZero() bool
	Unix() int64
	Nanosecond() int
}) *stamp {
	if t.IsZero() {
		return nil
	}
	return &stamp{t.Unix(), t.Nanosecond()}
}

func pairs(m map[string]string) []pair {
	out := []pair{}
	for k, v := range m {
		out = append(out, pair{[]byte(k), []byte(v)})
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Key) < string(out[j].Key) })
	return out
}

func read(r io.Reader) result {
	res := result{Go: runtime.Version(), Entries: []entry{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			msg := err.Error()
			res.Error = &msg
			return res
		}
		fp := &fingerprint{hash: sha256.New(), chunk: make([]byte, 0, chunkSize)}
		n, rerr := io.CopyBuffer(fp, struct{ io.Reader }{tr}, make([]byte, chunkSize))
		e := entry{
			Typeflag: h.Typeflag, Name: []byte(h.Name), Linkname: []byte(h.Linkname),
			Size: h.Size, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid,
			Uname: []byte(h.Uname), Gname: []byte(h.Gname),
			ModTime: when(h.ModTime), AccessTime: when(h.AccessTime), ChangeTime: when(h.ChangeTime),
			Devmajor: h.Devmajor, Devminor: h.Devminor,
			Xattrs: pairs(h.Xattrs), PAXRecords: pairs(h.PAXRecords), Format: int(h.Format),
			Content: fp.sum(), ContentLen: n,
		}
		res.Entries = append(res.Entries, e)
		if rerr != nil {
			// The reader's error is sticky: Next would only return it again.
			msg := rerr.Error()
			res.Entries[len(res.Entries)-1].ReadError = &msg
			res.Error = &msg
			return res
		}
	}
}

func main() {
	serve := flag.Bool("serve", false, "read length-framed streams from stdin, one JSON line each")
	flag.Parse()
	if !*serve {
		if err := json.NewEncoder(os.Stdout).Encode(read(os.Stdin)); err != nil {
			os.Exit(1)
		}
		return
	}
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for {
		var n uint64
		if err := binary.Read(in, binary.LittleEndian, &n); err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(in, buf); err != nil {
			os.Exit(1)
		}
		if err := enc.Encode(read(bytes.NewReader(buf))); err != nil {
			os.Exit(1)
		}
		if err := out.Flush(); err != nil {
			os.Exit(1)
		}
	}
}
