package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// The kubeconform schema locations this layout answers (pass both with -schema-location):
//
//	OUT/{{ .ResourceKind }}{{ .KindSuffix }}.json                         built-in kinds
//	OUT/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json   custom resources
//
// kubeconform's default location is a GitHub repository of schemas generated from the same
// OpenAPI document; this writes them offline, from the document in the Kubernetes release itself.

type schemaSummary struct {
	Kinds   int      `json:"kinds"`
	Custom  []string `json:"custom"`
	Written string   `json:"written"`
}

// writeSchemas converts Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json) and CRD
// files into strict JSON schemas, as kubeconform's own openapi2jsonschema does: int-or-string
// becomes string|integer, a resource.Quantity string|number, and every object that lists its
// properties refuses any other (kubectl's own strictness), so a misspelt field fails.
func writeSchemas(out, swaggerPath string, crdPaths []string) (any, error) {
	raw, err := os.ReadFile(swaggerPath)
	if err != nil {
		return nil, err
	}
	var swagger struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &swagger); err != nil {
		return nil, fmt.Errorf("%s: %w", swaggerPath, err)
	}
	if len(swagger.Definitions) == 0 {
		return nil, fmt.Errorf("%s: no definitions: expected Kubernetes' OpenAPI v2 document", swaggerPath)
	}
	definitions := map[string]any{}
	for name, definition := range swagger.Definitions {
		if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
			definitions[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
			continue
		}
		definitions[name] = strictify(definition)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	summary := schemaSummary{Custom: []string{}, Written: out}
	names := make([]string, 0, len(swagger.Definitions))
	for name := range swagger.Definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		gvks, _ := swagger.Definitions[name]["x-kubernetes-group-version-kind"].([]any)
		// Only top-level kinds (one group-version-kind); DeleteOptions, WatchEvent and the like
		// carry one per API group and are never applied on their own.
		if len(gvks) != 1 {
			continue
		}
		gvk := gvks[0].(map[string]any)
		group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
		apiVersion := version
		if group != "" {
			apiVersion = group + "/" + version
		}
		schema := map[string]any{}
		for key, value := range definitions[name].(map[string]any) {
			schema[key] = value
		}
		schema["definitions"] = reachable(definitions, schema)
		pinKind(schema, apiVersion, kind)
		file := filepath.Join(out, strings.ToLower(kind)+kindSuffix(apiVersion)+".json")
		if err := writeJSON(file, schema); err != nil {
			return nil, err
		}
		summary.Kinds++
	}
	for _, path := range crdPaths {
		written, err := writeCRDSchemas(out, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		summary.Custom = append(summary.Custom, written...)
	}
	return summary, nil
}

// kindSuffix is kubeconform's {{ .KindSuffix }}: "-v1" for core, "-apps-v1", "-policy-v1".
func kindSuffix(apiVersion string) string {
	parts := strings.Split(apiVersion, "/")
	suffix := "-" + strings.ToLower(strings.Split(parts[0], ".")[0])
	if len(parts) > 1 {
		suffix += "-" + strings.ToLower(parts[1])
	}
	return suffix
}

func writeCRDSchemas(out, path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd struct {
		Kind string `json:"kind"`
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind string `json:"kind"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return nil, err
	}
	if crd.Kind != "CustomResourceDefinition" || len(crd.Spec.Versions) == 0 {
		return nil, fmt.Errorf("expected a CustomResourceDefinition with spec.versions, got kind %q", crd.Kind)
	}
	written := []string{}
	for _, version := range crd.Spec.Versions {
		if version.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("version %s has no openAPIV3Schema", version.Name)
		}
		schema := strictify(version.Schema.OpenAPIV3Schema).(map[string]any)
		pinKind(schema, crd.Spec.Group+"/"+version.Name, crd.Spec.Names.Kind)
		file := filepath.Join(out, crd.Spec.Group, strings.ToLower(crd.Spec.Names.Kind)+"_"+version.Name+".json")
		if err := writeJSON(file, schema); err != nil {
			return nil, err
		}
		written = append(written, file)
	}
	return written, nil
}

// strictify returns a copy of an OpenAPI schema fragment as kubeconform's strict schemas have it.
func strictify(node any) any {
	switch value := node.(type) {
	case map[string]any:
		if value["format"] == "int-or-string" || value["x-kubernetes-int-or-string"] == true {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		copied := make(map[string]any, len(value)+1)
		for key, child := range value {
			// A property named like a keyword ("properties", "format") is data, not schema.
			if key == "properties" {
				properties := map[string]any{}
				for name, property := range child.(map[string]any) {
					properties[name] = strictify(property)
				}
				copied[key] = properties
				continue
			}
			copied[key] = strictify(child)
		}
		_, hasProperties := value["properties"]
		_, hasAdditional := value["additionalProperties"]
		if hasProperties && !hasAdditional && value["x-kubernetes-preserve-unknown-fields"] != true {
			copied["additionalProperties"] = false
		}
		return copied
	case []any:
		copied := make([]any, len(value))
		for i, child := range value {
			copied[i] = strictify(child)
		}
		return copied
	default:
		return value
	}
}

// pinKind makes apiVersion and kind accept only this kind's values, as kubeconform's schemas do.
func pinKind(schema map[string]any, apiVersion, kind string) {
	// A copy: the same definition may be shared with other kinds' files.
	properties := map[string]any{}
	if existing, ok := schema["properties"].(map[string]any); ok {
		for name, property := range existing {
			properties[name] = property
		}
	}
	schema["properties"] = properties
	properties["apiVersion"] = map[string]any{"type": "string", "enum": []any{apiVersion}}
	properties["kind"] = map[string]any{"type": "string", "enum": []any{kind}}
}

// reachable collects the definitions a schema refers to, transitively, so each kind's file stands
// alone (kubeconform loads one file per kind) without inlining recursive definitions.
func reachable(definitions map[string]any, root any) map[string]any {
	found := map[string]any{}
	var walk func(any)
	walk = func(node any) {
		switch value := node.(type) {
		case map[string]any:
			if ref, ok := value["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/definitions/")
				if _, done := found[name]; !done {
					if definition, ok := definitions[name]; ok {
						found[name] = definition
						walk(definition)
					}
				}
			}
			for _, child := range value {
				walk(child)
			}
		case []any:
			for _, child := range value {
				walk(child)
			}
		}
	}
	walk(root)
	return found
}

func writeJSON(file string, value any) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return err
	}
	return os.WriteFile(file, raw, 0o644)
}
