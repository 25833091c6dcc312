package control

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by ParseError.
var (
	ErrNoColon      = errors.New("control: line is neither a field nor a continuation")
	ErrContinuation = errors.New("control: continuation line outside a field")
	ErrFieldName    = errors.New("control: bad field name")
	ErrDuplicate    = errors.New("control: duplicate field")
	ErrMissing      = errors.New("control: missing field")
	ErrRelation     = errors.New("control: bad relation")
	ErrValue        = errors.New("control: bad value")
)

// ParseError is returned for malformed control data. It is modelled on
// encoding/csv.ParseError: File may be empty, Line is 1-based (0 when
// unknown), Field is the field being parsed, if any.
type ParseError struct {
	File  string // file name as given by the caller
	Line  int    // 1-based line of the field or offending line
	Field string // field name, "" for syntax errors between fields
	Err   error  // the underlying error
}

func (e *ParseError) Error() string {
	loc := e.File
	if loc == "" {
		loc = "<input>"
	}
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: field %s: %v", loc, e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }
