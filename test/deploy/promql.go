package main

import (
	"encoding/json"
	"io"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type promqlResult struct {
	Expr    string   `json:"expr"`
	Metrics []string `json:"metrics"`
	Error   string   `json:"error,omitempty"`
}

// parsePromQL reads a JSON array of PromQL expressions and parses each with the parser Prometheus
// itself runs (so an expression that parses here is accepted by a Prometheus of this version). For
// each it lists the metric names its selectors read: a selector's name, or its `__name__="..."`
// matcher. A selector with neither (or a regex name) is reported as "" so a caller can refuse it.
func parsePromQL(input io.Reader) (any, error) {
	var exprs []string
	raw, err := io.ReadAll(input)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &exprs); err != nil {
		return nil, err
	}
	results := make([]promqlResult, 0, len(exprs))
	for _, text := range exprs {
		result := promqlResult{Expr: text, Metrics: []string{}}
		expr, err := parser.ParseExpr(text)
		if err != nil {
			result.Error = err.Error()
			results = append(results, result)
			continue
		}
		seen := map[string]bool{}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			selector, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := selector.Name
			if name == "" {
				for _, matcher := range selector.LabelMatchers {
					if matcher.Name == labels.MetricName && matcher.Type == labels.MatchEqual {
						name = matcher.Value
					}
				}
			}
			seen[name] = true
			return nil
		})
		for name := range seen {
			result.Metrics = append(result.Metrics, name)
		}
		sort.Strings(result.Metrics)
		results = append(results, result)
	}
	return results, nil
}
