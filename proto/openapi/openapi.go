// Package openapi holds the OpenAPI v2 document of the public REST API,
// generated from proto/arxivsearch/search/v1 by `make gen`, so the gateway
// can serve the document that matches the code it was built with.
package openapi

import _ "embed"

// JSON is the OpenAPI v2 (Swagger) document of arxivsearch.search.v1.
//
//go:embed arxivsearch.swagger.json
var JSON []byte
