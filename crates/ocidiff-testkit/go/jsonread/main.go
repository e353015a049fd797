// jsonread prints what Go's encoding/json reads from a container image document, the way
// Docker, containerd, BuildKit and Podman read it: the document is decoded into hand-written
// copies of the structs those programs use (same field names, same json tags), and for each
// the fields that decide how a container runs are printed as one JSON line, or the error Go
// gave. It also walks the document against those struct types and lists every key Go would
// read ambiguously: a key repeated in one object, or a key that is no field's exact name but
// that Go matches to one regardless of case.
//
// It is the reference ocidiff's JSON reading is tested against. Standard library only:
//
//	go run . config < config.json
//
// With -serve it answers many requests, each a kind byte (c config, d manifest or index,
// m docker save manifest.json, r repositories, l oci-layout) and a length (8 bytes,
// little-endian) before the document, with one JSON line each. With -folds it lists the
// non-ASCII runes that Go folds to an ASCII letter.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// image-spec specs-go/v1 (v1.1).

type ociPlatform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

type ociDescriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Data         []byte            `json:"data,omitempty"`
	Platform     *ociPlatform      `json:"platform,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

type ociManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        ociDescriptor     `json:"config"`
	Layers        []ociDescriptor   `json:"layers"`
	Subject       *ociDescriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type ociIndex struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Manifests     []ociDescriptor   `json:"manifests"`
	Subject       *ociDescriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type ociImageConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	ArgsEscaped  bool                `json:"ArgsEscaped,omitempty"`
}

type ociRootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type ociHistory struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

type ociImage struct {
	Created *time.Time `json:"created,omitempty"`
	Author  string     `json:"author,omitempty"`
	ociPlatform
	Config  ociImageConfig `json:"config,omitempty"`
	RootFS  ociRootFS      `json:"rootfs"`
	History []ociHistory   `json:"history,omitempty"`
}

// moby: api/types/container.Config, daemon/internal/image.{V1Image,Image}, and
// docker-image-spec's DockerOCIImage.

type health struct {
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

type containerConfig struct {
	Hostname        string
	Domainname      string
	User            string
	AttachStdin     bool
	AttachStdout    bool
	AttachStderr    bool
	ExposedPorts    map[string]struct{} `json:",omitempty"`
	Tty             bool
	OpenStdin       bool
	StdinOnce       bool
	Env             []string
	Cmd             []string
	Healthcheck     *health `json:",omitempty"`
	ArgsEscaped     bool    `json:",omitempty"`
	Image           string
	Volumes         map[string]struct{}
	WorkingDir      string
	Entrypoint      []string
	NetworkDisabled bool     `json:",omitempty"`
	MacAddress      string   `json:",omitempty"`
	OnBuild         []string `json:",omitempty"`
	Labels          map[string]string
	StopSignal      string   `json:",omitempty"`
	StopTimeout     *int     `json:",omitempty"`
	Shell           []string `json:",omitempty"`
}

type v1Image struct {
	ID              string           `json:"id,omitempty"`
	Parent          string           `json:"parent,omitempty"`
	Comment         string           `json:"comment,omitempty"`
	Created         *time.Time       `json:"created"`
	Container       string           `json:"container,omitempty"`
	ContainerConfig containerConfig  `json:"container_config"`
	DockerVersion   string           `json:"docker_version,omitempty"`
	Author          string           `json:"author,omitempty"`
	Config          *containerConfig `json:"config,omitempty"`
	Architecture    string           `json:"architecture,omitempty"`
	Variant         string           `json:"variant,omitempty"`
	OS              string           `json:"os,omitempty"`
	Size            int64            `json:",omitempty"`
}

type mobyImage struct {
	v1Image
	Parent     string       `json:"parent,omitempty"`
	RootFS     *mobyRootFS  `json:"rootfs,omitempty"`
	History    []ociHistory `json:"history,omitempty"`
	OSVersion  string       `json:"os.version,omitempty"`
	OSFeatures []string     `json:"os.features,omitempty"`
}

type mobyRootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids,omitempty"`
}

type dockerOCIImageConfigExt struct {
	Healthcheck *health  `json:",omitempty"`
	OnBuild     []string `json:",omitempty"`
	Shell       []string `json:",omitempty"`
}

type dockerOCIImageConfig struct {
	ociImageConfig
	dockerOCIImageConfigExt
}

type dockerOCIImage struct {
	ociImage
	Config dockerOCIImageConfig `json:"config,omitempty"`
}

// distribution: schema-2 manifest and manifest list.

type distDescriptor struct {
	MediaType   string            `json:"mediaType,omitempty"`
	Digest      string            `json:"digest,omitempty"`
	Size        int64             `json:"size,omitempty"`
	URLs        []string          `json:"urls,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *ociPlatform      `json:"platform,omitempty"`
}

type schema2Manifest struct {
	SchemaVersion int              `json:"schemaVersion"`
	MediaType     string           `json:"mediaType,omitempty"`
	Config        distDescriptor   `json:"config"`
	Layers        []distDescriptor `json:"layers"`
}

type platformSpec struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
	Features     []string `json:"features,omitempty"`
}

type listEntry struct {
	distDescriptor
	Platform platformSpec `json:"platform"`
}

type manifestList struct {
	SchemaVersion int         `json:"schemaVersion"`
	MediaType     string      `json:"mediaType,omitempty"`
	Manifests     []listEntry `json:"manifests"`
}

// containerd core/images: the probe that checks a document against its descriptor.

type probe struct {
	MediaType string          `json:"mediaType,omitempty"`
	Config    json.RawMessage `json:"config,omitempty"`
	Layers    json.RawMessage `json:"layers,omitempty"`
	Manifests json.RawMessage `json:"manifests,omitempty"`
	FSLayers  json.RawMessage `json:"fsLayers,omitempty"`
}

// moby image/tarexport and the OCI layout marker.

type saveItem struct {
	Config       string
	RepoTags     []string
	Layers       []string
	Parent       string                   `json:",omitempty"`
	LayerSources map[string]ociDescriptor `json:",omitempty"`
}

type ociLayout struct {
	Version string `json:"imageLayoutVersion"`
}

// What each reader decoded, or its error.
type reading struct {
	Error *string        `json:"error"`
	View  map[string]any `json:"view,omitempty"`
}

type answer struct {
	Go        string             `json:"go"`
	Readers   map[string]reading `json:"readers"`
	Ambiguous []string           `json:"ambiguous"`
	// The lengths of containerd's probe members, for documents.
	Probe map[string]any `json:"probe,omitempty"`
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func keys(m map[string]struct{}) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func labels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func healthView(h *health) any {
	if h == nil {
		return nil
	}
	return map[string]any{
		"Test": strs(h.Test), "Interval": int64(h.Interval), "Timeout": int64(h.Timeout),
		"StartPeriod": int64(h.StartPeriod), "StartInterval": int64(h.StartInterval),
		"Retries": h.Retries,
	}
}

func platformView(p *ociPlatform) any {
	if p == nil {
		return nil
	}
	if p.Architecture == "" && p.OS == "" && p.OSVersion == "" && p.Variant == "" {
		return nil
	}
	return map[string]any{"architecture": p.Architecture, "os": p.OS, "os.version": p.OSVersion, "variant": p.Variant}
}

func descriptorView(mediaType, digest string, size int64, platform any) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest, "size": size, "platform": platform}
}

func ociConfigView(c ociImageConfig, p ociPlatform, diffIDs []string) map[string]any {
	return map[string]any{
		"User": c.User, "Env": strs(c.Env), "Cmd": strs(c.Cmd), "Entrypoint": strs(c.Entrypoint),
		"WorkingDir": c.WorkingDir, "ExposedPorts": keys(c.ExposedPorts), "Volumes": keys(c.Volumes),
		"Labels": labels(c.Labels), "StopSignal": c.StopSignal,
		"os": p.OS, "architecture": p.Architecture, "variant": p.Variant, "os.version": p.OSVersion,
		"diff_ids": strs(diffIDs),
	}
}

// decode runs one reader: json.Unmarshal into a fresh value, then its view.
func decode[T any](doc []byte, view func(*T) map[string]any) reading {
	var v T
	if err := json.Unmarshal(doc, &v); err != nil {
		msg := err.Error()
		return reading{Error: &msg}
	}
	return reading{View: view(&v)}
}

func readConfig(doc []byte, a *answer) {
	a.Readers["oci"] = decode(doc, func(i *ociImage) map[string]any {
		return ociConfigView(i.Config, i.ociPlatform, i.RootFS.DiffIDs)
	})
	a.Readers["docker_oci"] = decode(doc, func(i *dockerOCIImage) map[string]any {
		v := ociConfigView(i.Config.ociImageConfig, i.ociPlatform, i.RootFS.DiffIDs)
		v["Healthcheck"] = healthView(i.Config.Healthcheck)
		return v
	})
	a.Readers["moby"] = decode(doc, func(i *mobyImage) map[string]any {
		c := containerConfig{}
		if i.Config != nil {
			c = *i.Config
		}
		var diffIDs []string
		if i.RootFS != nil {
			diffIDs = i.RootFS.DiffIDs
		}
		return map[string]any{
			"User": c.User, "Env": strs(c.Env), "Cmd": strs(c.Cmd), "Entrypoint": strs(c.Entrypoint),
			"WorkingDir": c.WorkingDir, "ExposedPorts": keys(c.ExposedPorts), "Volumes": keys(c.Volumes),
			"Labels": labels(c.Labels), "StopSignal": c.StopSignal, "Healthcheck": healthView(c.Healthcheck),
			"os": i.OS, "architecture": i.Architecture, "variant": i.Variant, "os.version": i.OSVersion,
			"diff_ids": strs(diffIDs),
		}
	})
	// containerd reads a config's platform straight into a Platform.
	a.Readers["containerd_platform"] = decode(doc, func(p *ociPlatform) map[string]any {
		return map[string]any{"os": p.OS, "architecture": p.Architecture, "variant": p.Variant, "os.version": p.OSVersion}
	})
	a.Ambiguous = ambiguities(doc, ociImage{}, mobyImage{}, dockerOCIImage{}, ociPlatform{})
}

func readDocument(doc []byte, a *answer) {
	manifestView := func(mediaType string, config map[string]any, layers []map[string]any) map[string]any {
		return map[string]any{"mediaType": mediaType, "config": config, "layers": layers}
	}
	a.Readers["oci_manifest"] = decode(doc, func(m *ociManifest) map[string]any {
		layers := []map[string]any{}
		for _, l := range m.Layers {
			layers = append(layers, descriptorView(l.MediaType, l.Digest, l.Size, platformView(l.Platform)))
		}
		c := m.Config
		v := manifestView(m.MediaType, descriptorView(c.MediaType, c.Digest, c.Size, platformView(c.Platform)), layers)
		v["annotations"] = labels(m.Annotations)
		return v
	})
	a.Readers["docker_manifest"] = decode(doc, func(m *schema2Manifest) map[string]any {
		layers := []map[string]any{}
		for _, l := range m.Layers {
			layers = append(layers, descriptorView(l.MediaType, l.Digest, l.Size, platformView(l.Platform)))
		}
		c := m.Config
		return manifestView(m.MediaType, descriptorView(c.MediaType, c.Digest, c.Size, platformView(c.Platform)), layers)
	})
	a.Readers["oci_index"] = decode(doc, func(i *ociIndex) map[string]any {
		entries := []map[string]any{}
		for _, d := range i.Manifests {
			entries = append(entries, descriptorView(d.MediaType, d.Digest, d.Size, platformView(d.Platform)))
		}
		return map[string]any{"mediaType": i.MediaType, "manifests": entries, "annotations": labels(i.Annotations)}
	})
	a.Readers["docker_list"] = decode(doc, func(l *manifestList) map[string]any {
		entries := []map[string]any{}
		for _, d := range l.Manifests {
			p := d.Platform
			platform := platformView(&ociPlatform{p.Architecture, p.OS, p.OSVersion, p.OSFeatures, p.Variant})
			entries = append(entries, descriptorView(d.MediaType, d.Digest, d.Size, platform))
		}
		return map[string]any{"mediaType": l.MediaType, "manifests": entries}
	})
	var p probe
	if err := json.Unmarshal(doc, &p); err == nil {
		a.Probe = map[string]any{
			"mediaType": p.MediaType, "config": len(p.Config), "layers": len(p.Layers),
			"manifests": len(p.Manifests), "fsLayers": len(p.FSLayers),
		}
	}
	a.Ambiguous = ambiguities(doc, ociManifest{}, ociIndex{}, schema2Manifest{}, manifestList{}, probe{})
}

func readOther(doc []byte, a *answer, target any) {
	t := reflect.TypeOf(target)
	v := reflect.New(t)
	if err := json.Unmarshal(doc, v.Interface()); err != nil {
		msg := err.Error()
		a.Readers["go"] = reading{Error: &msg}
	} else {
		a.Readers["go"] = reading{View: map[string]any{"value": v.Elem().Interface()}}
	}
	a.Ambiguous = ambiguities(doc, target)
}

func serve(kind byte, doc []byte) answer {
	a := answer{Go: runtime.Version(), Readers: map[string]reading{}, Ambiguous: []string{}}
	switch kind {
	case 'c':
		readConfig(doc, &a)
	case 'd':
		readDocument(doc, &a)
	case 'm':
		readOther(doc, &a, []saveItem{})
	case 'r':
		readOther(doc, &a, map[string]map[string]string{})
	case 'l':
		readOther(doc, &a, ociLayout{})
	default:
		msg := fmt.Sprintf("unknown kind %q", kind)
		a.Readers["go"] = reading{Error: &msg}
	}
	return a
}

var rawMessage = reflect.TypeOf(json.RawMessage{})

// fields lists the JSON names of a struct's fields as encoding/json sees them: tag names,
// else Go names, with embedded structs' fields promoted unless a shallower field has the name.
func fields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			embedded = append(embedded, f.Type)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	for _, e := range embedded {
		for name, ft := range fields(e) {
			if _, shadowed := out[name]; !shadowed {
				out[name] = ft
			}
		}
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessage {
		return nil
	}
	return t
}

func jqKey(k string) string {
	plain := k != "" && !(k[0] >= '0' && k[0] <= '9')
	for _, c := range k {
		if !(c == '_' || c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')) {
			plain = false
		}
	}
	if plain {
		return "." + k
	}
	var quoted bytes.Buffer
	enc := json.NewEncoder(&quoted)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(k)
	return "[" + strings.TrimSuffix(quoted.String(), "\n") + "]"
}

// walker reads a document token by token along a Go type, noting what Go reads ambiguously.
type walker struct {
	dec   *json.Decoder
	found map[string]bool
	order []string
}

func (w *walker) note(s string) {
	if !w.found[s] {
		w.found[s] = true
		w.order = append(w.order, s)
	}
}

func (w *walker) value(t reflect.Type, path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	t = deref(t)
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if d == '[' {
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err = w.dec.Token()
		return err
	}
	seen := map[string]bool{}
	var known map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		known = fields(t)
	}
	for w.dec.More() {
		kt, err := w.dec.Token()
		if err != nil {
			return err
		}
		key := kt.(string)
		at := path + jqKey(key)
		if seen[key] {
			w.note("duplicate " + at)
		}
		seen[key] = true
		var child reflect.Type
		switch {
		case t != nil && t.Kind() == reflect.Map:
			child = t.Elem()
		case known != nil:
			if ft, ok := known[key]; ok {
				child = ft
			} else {
				for name, ft := range known {
					if bytes.EqualFold([]byte(name), []byte(key)) {
						w.note("folded " + at + " " + name)
						child = ft
					}
				}
			}
		}
		if err := w.value(child, at); err != nil {
			return err
		}
	}
	_, err = w.dec.Token()
	return err
}

// ambiguities walks doc along each target's type; the union of what each walk noted.
func ambiguities(doc []byte, targets ...any) []string {
	w := &walker{found: map[string]bool{}, order: []string{}}
	for _, target := range targets {
		w.dec = json.NewDecoder(bytes.NewReader(doc))
		w.dec.UseNumber()
		if err := w.value(reflect.TypeOf(target), ""); err != nil {
			return w.order
		}
	}
	return w.order
}

// folds lists the runes above ASCII that Go's case folding takes to an ASCII rune: Go folds a
// name by mapping each rune to the smallest member of its unicode.SimpleFold orbit.
func folds() {
	fmt.Printf("unicode %s\n", unicode.Version)
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		smallest := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < smallest {
				smallest = f
			}
		}
		if smallest < utf8.RuneSelf {
			fmt.Printf("%04X %c\n", r, smallest)
		}
	}
}

func main() {
	serveFlag := flag.Bool("serve", false, "answer framed requests on stdin, one JSON line each")
	foldsFlag := flag.Bool("folds", false, "list the non-ASCII runes Go folds to ASCII")
	flag.Parse()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	switch {
	case *foldsFlag:
		folds()
	case *serveFlag:
		in := bufio.NewReader(os.Stdin)
		for {
			var head [9]byte
			if _, err := io.ReadFull(in, head[:]); err != nil {
				if errors.Is(err, io.EOF) {
					return
				}
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			doc := make([]byte, binary.LittleEndian.Uint64(head[1:]))
			if _, err := io.ReadFull(in, doc); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if err := enc.Encode(serve(head[0], doc)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			out.Flush()
		}
	default:
		kinds := map[string]byte{"config": 'c', "document": 'd', "save-manifest": 'm', "repositories": 'r', "oci-layout": 'l'}
		kind, ok := kinds[flag.Arg(0)]
		if !ok {
			fmt.Fprintln(os.Stderr, "usage: jsonread config|document|save-manifest|repositories|oci-layout < doc.json")
			os.Exit(2)
		}
		doc, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := enc.Encode(serve(kind, doc)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
