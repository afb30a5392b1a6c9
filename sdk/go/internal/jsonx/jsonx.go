// Package jsonx encodes the JSON texts Taskstream stores (payloads, results, progress details)
// exactly as written: unlike json.Marshal it does not escape <, > and & as \u003c and so on, which
// would inflate a result against the dispatcher's size limit and store text other SDKs would not.
package jsonx

import (
	"bytes"
	"encoding/json"
)

// Marshal returns the JSON encoding of v without HTML escaping.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
