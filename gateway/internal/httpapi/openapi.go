package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/arxivsearch/arxivsearch/proto/openapi"
)

// openapiExtra documents what the generated document cannot know: the
// seed-compatible and operational routes, and which routes need the write
// token.
//
//go:embed openapi_extra.json
var openapiExtra []byte

// openAPIDocument is the document served at /openapi.json: the one
// generated from the API configuration (proto/openapi), plus openapiExtra.
func openAPIDocument() ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		return nil, fmt.Errorf("generated OpenAPI document: %w", err)
	}
	var extra struct {
		SecurityDefinitions map[string]any `json:"securityDefinitions"`
		Tags                []any          `json:"tags"`
		Secured             [][2]string    `json:"secured"`
		Paths               map[string]any `json:"paths"`
		Definitions         map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(openapiExtra, &extra); err != nil {
		return nil, fmt.Errorf("openapi_extra.json: %w", err)
	}
	paths, _ := doc["paths"].(map[string]any)
	defs, _ := doc["definitions"].(map[string]any)
	if paths == nil || defs == nil {
		return nil, fmt.Errorf("generated OpenAPI document has no paths or definitions")
	}
	for p, v := range extra.Paths {
		if _, dup := paths[p]; dup {
			return nil, fmt.Errorf("openapi_extra.json redefines path %s", p)
		}
		paths[p] = v
	}
	for d, v := range extra.Definitions {
		defs[d] = v
	}
	doc["securityDefinitions"] = extra.SecurityDefinitions
	tags, _ := doc["tags"].([]any)
	doc["tags"] = append(tags, extra.Tags...)
	for _, s := range extra.Secured {
		method, path := s[0], s[1]
		op, _ := paths[path].(map[string]any)
		o, _ := op[method].(map[string]any)
		if o == nil {
			return nil, fmt.Errorf("openapi_extra.json secures %s %s, which the generated document lacks", method, path)
		}
		o["security"] = []any{map[string]any{"bearer": []any{}}}
		if resp, ok := o["responses"].(map[string]any); ok {
			resp["401"] = map[string]any{"description": "The write token is missing.", "schema": map[string]any{"$ref": "#/definitions/rpcStatus"}}
			resp["403"] = map[string]any{"description": "Wrong token, or writes are disabled on this server.", "schema": map[string]any{"$ref": "#/definitions/rpcStatus"}}
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("OpenAPI document: %w", err)
	}
	return out, nil
}
