package jsonx

import (
	"encoding/json"
	"testing"
)

func TestMarshalKeepsHTMLCharactersAndAddsNoNewline(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{map[string]string{"html": "<a href='x'>&</a>"}, `{"html":"<a href='x'>&</a>"}`},
		{nil, "null"},
		{json.RawMessage(` { "a" : [1, 2] } `), `{"a":[1,2]}`},
		{"line\nbreak", `"line\nbreak"`},
	}
	for _, c := range cases {
		got, err := Marshal(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := Marshal(make(chan int)); err == nil {
		t.Error("Marshal of a channel succeeded")
	}
	if _, err := Marshal(json.RawMessage(`{nope`)); err == nil {
		t.Error("Marshal of invalid raw JSON succeeded")
	}
}
