package output

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrExists is returned by Commit when a target appeared during the run
// and Replace was not given.
var ErrExists = errors.New("already exists")

// Staged is a temporary file or folder beside a target, written in full
// before Commit moves it into place.
type Staged struct {
	Target
	// Tmp is the temporary's path. It keeps the target's extension, so
	// readers that go by the name (a .gguf) accept it.
	Tmp string
	// File is the open temporary file; nil for a folder.
	File *os.File

	placed bool   // at Target.Path now
	aside  string // where a replaced earlier output waits until deletion
}

// Stage creates the temporary for t: a folder for a Checkpoint, else a
// file. It is created as a new file is, mode 0666 (0777 for a folder)
// less the umask, so the output is as readable as anything else the user
// creates.
func Stage(t Target) (*Staged, error) {
	t.Path = filepath.Clean(t.Path)
	dir, base := filepath.Split(t.Path)
	ext := filepath.Ext(base)
	if t.Kind == Checkpoint {
		ext = ""
	}
	stem := "." + strings.TrimSuffix(base, ext) + ".tmp-"
	for range 100 {
		tmp := filepath.Join(dir, stem+strconv.FormatUint(rand.Uint64()>>16, 36)+ext)
		s := &Staged{Target: t, Tmp: tmp}
		var err error
		if t.Kind == Checkpoint {
			err = os.Mkdir(tmp, 0o777)
		} else {
			s.File, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			if err := checkFolder(t); err != nil {
				return nil, err // names the folder, not the temporary
			}
			return nil, fmt.Errorf("creating %s: %w", t.Path, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("creating %s: no free temporary name", t.Path)
}

// Discard removes the temporary unless it was committed; callers defer it.
func (s *Staged) Discard() {
	if s == nil || s.placed {
		return
	}
	if s.File != nil {
		s.File.Close()
	}
	os.RemoveAll(s.Tmp)
}

// Commit puts every staged temporary at its target, all or none. A target
// that exists is moved aside first when Replace allows it (it is checked
// again: it must still be an earlier output of the same kind), and deleted
// only once every new output is in place; without Replace, a target that
// appeared meanwhile is never replaced (ErrExists). On failure, what was
// moved is moved back. The returned paths are earlier outputs that could
// not be deleted because they changed meanwhile; they are left as they are.
func Commit(items ...*Staged) (kept []string, err error) {
	for _, s := range items {
		if s.File != nil {
			if err := s.File.Close(); err != nil {
				rollback(items)
				return nil, fmt.Errorf("writing %s: %w", s.Path, err)
			}
			s.File = nil
		}
		if err := s.place(); err != nil {
			rollback(items)
			return nil, err
		}
	}
	for _, s := range items {
		if s.aside == "" {
			continue
		}
		if !removeOld(s.aside, s.Kind) {
			kept = append(kept, s.aside)
		}
		s.aside = ""
	}
	return kept, nil
}

// place moves one temporary to its target.
func (s *Staged) place() error {
	if _, err := os.Lstat(s.Path); err == nil {
		if !s.Replace {
			return fmt.Errorf("%s: %w (written meanwhile by something else); pass --force to replace it", s.Path, ErrExists)
		}
		if reason := notReplaceable(s.Path, s.Kind); reason != "" {
			return refuse(s.Target, "--force replaces only an earlier %s, and this %s", s.Kind, reason)
		}
		aside, err := asideName(s.Path)
		if err != nil {
			return err
		}
		if err := renameNoReplace(s.Path, aside, s.Kind == Checkpoint); err != nil {
			return fmt.Errorf("replacing %s: %w", s.Path, err)
		}
		s.aside = aside
	}
	if err := renameNoReplace(s.Tmp, s.Path, s.Kind == Checkpoint); err != nil {
		if s.aside != "" && renameNoReplace(s.aside, s.Path, s.Kind == Checkpoint) == nil {
			s.aside = ""
		}
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w (written meanwhile by something else); pass --force to replace it", s.Path, ErrExists)
		}
		return fmt.Errorf("putting %s in place: %w", s.Path, err)
	}
	s.placed = true
	return nil
}

// rollback moves back what Commit placed or moved aside.
func rollback(items []*Staged) {
	for _, s := range items {
		if s.placed && renameNoReplace(s.Path, s.Tmp, s.Kind == Checkpoint) == nil {
			s.placed = false
		}
		if s.aside != "" && renameNoReplace(s.aside, s.Path, s.Kind == Checkpoint) == nil {
			s.aside = ""
		}
	}
}

// asideName is a free hidden name beside path for its earlier version.
func asideName(path string) (string, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		p := filepath.Join(dir, "."+base+".old-"+strconv.FormatUint(rand.Uint64()>>16, 36))
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("replacing %s: no free name to move it aside", path)
}

// removeOld deletes an earlier output moved aside, file by file, and only
// what an output of its kind holds; false when something else is there.
func removeOld(path string, k Kind) bool {
	if notReplaceable(path, k) != "" {
		return false
	}
	if k != Checkpoint {
		return os.Remove(path) == nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if os.Remove(filepath.Join(path, e.Name())) != nil {
			return false
		}
	}
	return os.Remove(path) == nil
}

// renameNoReplace renames from to to, failing with fs.ErrExist when to
// exists: atomically where the system can (renameat2 RENAME_NOREPLACE,
// or a hard link for a file), else by checking first; a folder renamed
// over an existing non-empty folder fails anyway.
func renameNoReplace(from, to string, dir bool) error {
	err := renameExclusive(from, to)
	if err == nil || !errors.Is(err, errUnsupported) {
		return err
	}
	if !dir {
		if err := os.Link(from, to); err == nil {
			return os.Remove(from)
		} else if errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if _, err := os.Lstat(to); err == nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
	}
	return os.Rename(from, to)
}

var errUnsupported = errors.New("not supported here")
