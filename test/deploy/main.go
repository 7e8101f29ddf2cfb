// Command deploycheck holds the deployment checks that need a real implementation rather than
// string matching. test/deploy.test.ts runs it; each subcommand prints JSON on stdout.
//
//	deploycheck compose FILE [PROFILE...]   load FILE with the Compose Specification's reference
//	                                        loader (schema, interpolation, merge, consistency) and
//	                                        print the resolved project
//	deploycheck promql < EXPRS.json         parse each PromQL expression with Prometheus' parser and
//	                                        print the metric names it selects
//	deploycheck k8s-schemas OUT SWAGGER CRD...
//	                                        write kubeconform's strict JSON schemas for every kind in
//	                                        Kubernetes' OpenAPI document and for the CRDs' versions
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: deploycheck compose|promql|k8s-schemas ...")
	}
	var (
		out any
		err error
	)
	switch args := os.Args[2:]; os.Args[1] {
	case "compose":
		if len(args) < 1 {
			fail("usage: deploycheck compose FILE [PROFILE...]")
		}
		out, err = loadCompose(args[0], args[1:])
	case "promql":
		out, err = parsePromQL(os.Stdin)
	case "k8s-schemas":
		if len(args) < 2 {
			fail("usage: deploycheck k8s-schemas OUT SWAGGER [CRD...]")
		}
		out, err = writeSchemas(args[0], args[1], args[2:])
	default:
		fail(fmt.Sprintf("unknown subcommand %q: expected compose, promql or k8s-schemas", os.Args[1]))
	}
	if err != nil {
		fail(err.Error())
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(out); err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "deploycheck:", message)
	os.Exit(1)
}
