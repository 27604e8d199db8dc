// The reference for day2's YAML conformance test: how go-yaml v2, the parser behind sigs.k8s.io/yaml and so behind
// kubectl and the Kubernetes API machinery, reads each case of the YAML test suite.
//
// Reads a JSON array of {"id", "yaml"} on stdin and writes a JSON array of {"id", "ok", "docs", "error"}: every
// document of the stream (gopkg.in/yaml.v2's Decoder), each converted to JSON exactly as sigs.k8s.io/yaml does
// (YAMLToJSON of the document). Built in GOPATH mode against Debian's packages golang-gopkg-yaml.v2-dev and
// golang-k8s-sigs-yaml-dev, so nothing is downloaded.
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"

	goyaml "gopkg.in/yaml.v2"
	"sigs.k8s.io/yaml"
)

type testCase struct {
	ID   string `json:"id"`
	YAML string `json:"yaml"`
}

type outcome struct {
	ID    string            `json:"id"`
	OK    bool              `json:"ok"`
	Docs  []json.RawMessage `json:"docs"`
	Error string            `json:"error,omitempty"`
}

func read(c testCase) (out outcome) {
	out = outcome{ID: c.ID, Docs: []json.RawMessage{}}
	// go-yaml panics on a few malformed inputs; that is a rejection too.
	defer func() {
		if r := recover(); r != nil {
			out = outcome{ID: c.ID, Docs: []json.RawMessage{}, Error: "panic"}
		}
	}()
	decoder := goyaml.NewDecoder(bytes.NewReader([]byte(c.YAML)))
	for {
		var doc interface{}
		err := decoder.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Error = err.Error()
			return out
		}
		// sigs.k8s.io/yaml converts one document; hand it each document as go-yaml wrote it back.
		text, err := goyaml.Marshal(doc)
		if err != nil {
			out.Error = "re-encoding: " + err.Error()
			return out
		}
		converted, err := yaml.YAMLToJSON(text)
		if err != nil {
			out.Error = "to JSON: " + err.Error()
			return out
		}
		out.Docs = append(out.Docs, json.RawMessage(converted))
	}
	out.OK = true
	return out
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString("reading cases: " + err.Error() + "\n")
		os.Exit(2)
	}
	outcomes := make([]outcome, 0, len(cases))
	for _, c := range cases {
		outcomes = append(outcomes, read(c))
	}
	if err := json.NewEncoder(os.Stdout).Encode(outcomes); err != nil {
		os.Stderr.WriteString("writing outcomes: " + err.Error() + "\n")
		os.Exit(2)
	}
}
