package arbiter

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPropertiesListEveryCommand: the API refuses a property that
// Properties does not list, so a command missing from the table could
// not be given any.
func TestPropertiesListEveryCommand(t *testing.T) {
	for _, c := range Commands() {
		if _, ok := commandProps[c]; !ok {
			t.Errorf("command %q has no entry in commandProps (propkeys.go): the HTTPS API would refuse every property of it", c)
		}
	}
	for c := range commandProps {
		if !slices.Contains(Commands(), c) {
			t.Errorf("commandProps lists %q, which is no command", c)
		}
	}
}

// TestPropertiesListEveryKeyRead reads arbiter's source for the property
// keys its handlers read (props' accessors, Properties["k"], p.p["k"])
// and checks that commandProps lists each for some command: a key added
// to a handler but not to the table would be refused by the API.
func TestPropertiesListEveryKeyRead(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, ks := range commandProps {
		for _, k := range ks {
			listed[k] = true
		}
	}
	accessors := map[string]bool{"has": true, "str": true, "integer": true, "seconds": true, "boolean": true, "obj": true, "strings": true}
	fset := token.NewFileSet()
	read := map[string]string{} // key -> where
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			var lit ast.Expr
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && accessors[sel.Sel.Name] && len(n.Args) >= 1 && isPropsExpr(sel.X) {
					lit = n.Args[0]
				}
			case *ast.IndexExpr:
				if sel, ok := n.X.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Properties" || sel.Sel.Name == "p") {
					lit = n.Index
				}
			}
			if bl, ok := lit.(*ast.BasicLit); ok && bl.Kind == token.STRING {
				k, _ := strconv.Unquote(bl.Value)
				read[k] = fset.Position(bl.Pos()).String()
			}
			return true
		})
	}
	if len(read) < 20 {
		t.Fatalf("found only %d property keys read (%v): the scan no longer sees the handlers' reads", len(read), read)
	}
	for k, at := range read {
		if !listed[k] {
			t.Errorf("%s reads property %q, which commandProps (propkeys.go) lists for no command: the HTTPS API would refuse it", at, k)
		}
	}
}

// isPropsExpr reports whether x looks like a props value: m.props(),
// props{...}, or a variable named p.
func isPropsExpr(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.CallExpr:
		sel, ok := x.Fun.(*ast.SelectorExpr)
		return ok && sel.Sel.Name == "props"
	case *ast.CompositeLit:
		id, ok := x.Type.(*ast.Ident)
		return ok && id.Name == "props"
	case *ast.ParenExpr:
		return isPropsExpr(x.X)
	case *ast.Ident:
		return x.Name == "p"
	}
	return false
}
