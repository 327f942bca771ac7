package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ruleID is how a rule is cited: a family letter and two digits, as in
// S-44 or C-21. The families are whatever RULES.md defines.
var ruleID = regexp.MustCompile(`\b[A-Z]-[0-9]{2}\b`)

// ruleCell is the first cell of a row of RULES.md: a rule id alone.
var ruleCell = regexp.MustCompile(`^[A-Z]-[0-9]{2}$`)

// testName is a test named in the test column of RULES.md: `TestX`, or
// `TestX/filter` where filter is part of a subtest's name.
var testName = regexp.MustCompile("`([^`]+)`")

// A ruleRow is one row of a table in RULES.md: its keyword (MUST,
// SHOULD, ...) and its test column.
type ruleRow struct {
	keyword, tests string
}

// TestRules keeps RULES.md honest. Every rule id cited in the repository
// has a row there. Every test a row names exists, and every MUST row names
// one, or gives a reason (after "—") why no test proves it yet.
func TestRules(t *testing.T) {
	rows := readRules(t, "RULES.md")

	t.Run("every cited id has a row", func(t *testing.T) {
		cited := citedIDs(t)
		for _, file := range slices.Sorted(maps.Keys(cited)) {
			for _, id := range cited[file] {
				if _, ok := rows[id]; !ok {
					t.Errorf("%s cites %s, which RULES.md does not define", file, id)
				}
			}
		}
	})

	t.Run("every named test exists, and every MUST row names one", func(t *testing.T) {
		tests := testFuncs(t)
		for _, id := range slices.Sorted(maps.Keys(rows)) {
			row := rows[id]
			if reason, gap := strings.CutPrefix(row.tests, "—"); gap {
				if isMust(row.keyword) {
					t.Logf("untested MUST %s:%s", id, reason)
				}
				if strings.TrimSpace(reason) == "" {
					t.Errorf("%s names no test, and says not why after —", id)
				}
				continue
			}
			named := testName.FindAllStringSubmatch(row.tests, -1)
			if len(named) == 0 && isMust(row.keyword) {
				t.Errorf("%s is a MUST and names no test (nor, after —, why not)", id)
			}
			for _, m := range named {
				name, filter, _ := strings.Cut(m[1], "/")
				literals, ok := tests[name]
				switch {
				case !ok:
					t.Errorf("%s names %s, but no *_test.go has func %s", id, m[1], name)
				case filter != "" && !containsAny(literals, filter):
					t.Errorf("%s names %s, but no subtest name in %s contains %q", id, m[1], name, filter)
				}
			}
		}
	})
}

// isMust reports whether a row's keyword makes it a requirement that a
// test must prove: MUST or MUST NOT, alone or with others, or the RFC's
// lower-case "must", which this project treats the same.
func isMust(keyword string) bool {
	return strings.Contains(strings.ToUpper(keyword), "MUST")
}

// readRules returns the rows of every table in the file at path, by id:
// the lines "| id | § | keyword | rule | test |" whose id is a rule id.
func readRules(t *testing.T, path string) map[string]ruleRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]ruleRow{}
	for line := range strings.Lines(string(b)) {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) < 3 || !ruleCell.MatchString(strings.TrimSpace(cells[1])) {
			continue
		}
		id := strings.TrimSpace(cells[1])
		if len(cells) != 7 {
			t.Errorf("RULES.md: the row of %s does not have 5 cells: %s", id, line)
			continue
		}
		if _, dup := rows[id]; dup {
			t.Errorf("RULES.md: %s has two rows", id)
		}
		rows[id] = ruleRow{keyword: strings.TrimSpace(cells[3]), tests: strings.TrimSpace(cells[5])}
	}
	if len(rows) == 0 {
		t.Fatal("RULES.md has no rule rows")
	}
	return rows
}

// citedIDs returns the rule ids cited in each .go and .md file of the
// repository, except RULES.md, which defines them.
func citedIDs(t *testing.T) map[string][]string {
	t.Helper()
	cited := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		ext := filepath.Ext(path)
		if d.IsDir() || path == "RULES.md" || (ext != ".go" && ext != ".md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		cited[path] = ruleID.FindAllString(string(b), -1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cited
}

// testFuncs returns the top-level functions of every *_test.go file, each
// with the string literals in its body, where its subtests get their
// names.
func testFuncs(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string][]string{}
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil {
				continue
			}
			var literals []string
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					literals = append(literals, s)
				}
				return true
			})
			funcs[fn.Name.Name] = literals
		}
	}
	return funcs
}

// containsAny reports whether any of ss contains substr.
func containsAny(ss []string, substr string) bool {
	for _, s := range ss {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

// TestCommandDoc: `go doc .` shows the command's doc, which is main.go's
// package comment; a protocol file's opening comment (ws.go, deflate.go,
// rfc8441.go) is a file comment, kept apart from its package clause by a
// blank line, or go doc would show it instead (issue 12).
func TestCommandDoc(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case name == "main.go" && (f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Command wsecho")):
			t.Errorf("main.go has no package comment that begins \"Command wsecho\"")
		case name != "main.go" && f.Doc != nil:
			t.Errorf("%s: its opening comment is attached to the package clause, so go doc would show it: %.60q", name, f.Doc.Text())
		}
	}
}
