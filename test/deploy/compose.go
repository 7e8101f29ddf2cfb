package main

import (
	"context"
	"encoding/json"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

// loadCompose loads a compose file the way `docker compose` does (compose-go is the loader the
// docker compose plugin itself uses): the Compose Specification's JSON schema, `${VAR:-default}`
// interpolation, YAML anchors and merges, profiles, and the consistency checks (every depends_on,
// volume and network names something defined). The environment is empty, so the defaults written
// in the file are what is checked, not whatever the machine running the test has set.
func loadCompose(file string, profiles []string) (any, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	options, err := cli.NewProjectOptions(
		[]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv([]string{}),
		cli.WithInterpolation(true),
		cli.WithConsistency(true),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		return nil, err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	raw, err := project.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var resolved map[string]any
	if err := json.Unmarshal(raw, &resolved); err != nil {
		return nil, err
	}
	// Services outside the active profiles, so a test can tell "disabled" from "missing".
	disabled := []string{}
	for name := range project.DisabledServices {
		disabled = append(disabled, name)
	}
	resolved["x-disabled-services"] = disabled
	return resolved, nil
}
