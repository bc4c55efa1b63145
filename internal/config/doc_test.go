package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vaspgate/vaspgate/internal/config"
)

// TestEveryKeyDocumented keeps docs/configuration.md true: every YAML key of Config must be
// written there as `section.key` (lists and maps of structs as `section[].key`).
func TestEveryKeyDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, key := range yamlKeys(reflect.TypeOf(config.Config{}), "") {
		if !strings.Contains(string(doc), "`"+key+"`") {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/configuration.md does not document %d key(s):\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}

func yamlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		keys = append(keys, key)
		ft := f.Type
		suffix := "."
		if ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
			ft, suffix = ft.Elem(), "[]."
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
			keys = append(keys, yamlKeys(ft, key+suffix)...)
		}
	}
	return keys
}
