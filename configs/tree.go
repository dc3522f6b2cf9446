package configs

import "os"

// FromTree decodes and validates a configuration given as a tree of
// values, as a translator of another format builds it (configs/circusini,
// configs/supervisorini): the sections arbiter, web, sockets and watchers
// as nested map[string]any, with string, bool, int64, float64, []any and
// map[string]any values, shaped like a TOML file. path names the original
// file in errors. As in Load, two names or keys of one table that differ
// only in case are a problem; socket names are then lower-cased, and
// watcher names keep their case (lookups ignore it). POOLD_* overrides apply as for Load. The tree is not kept;
// the caller may not use it afterwards (overrides are written into it).
func FromTree(path string, tree map[string]any) (*Config, error) {
	ps := &problems{}
	foldCollisions(ps, "", tree)
	written := writtenNames(tree)
	foldNames(tree)
	fromEnv := applyEnv(ps, tree, os.Environ())
	cfg := decodeConfig(&decoder{ps: ps, fromFile: true}, tree)
	keepCase(cfg, written)
	cfg.Path = path
	ps.creditEnv(fromEnv)
	if err := ps.err(path); err != nil {
		return nil, err
	}
	cfg.Warnings = ps.warningLines(path)
	return cfg, nil
}
