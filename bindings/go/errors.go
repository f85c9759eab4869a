package phicrypt

import "fmt"

// Code is a stable negative return code of the C library (PHICRYPT_E*).
type Code int

// The C library's return codes; the numbers never change.
const (
	CodeInvalidArgument Code = -1
	CodeBadData         Code = -2
	CodeSchema          Code = -3
	CodeKeyNotFound     Code = -4
	CodeKeyVault        Code = -5
	CodeKMS             Code = -6
	CodeKMSAuth         Code = -7
	CodeTimeout         Code = -8
	CodeAuthentication  Code = -9
	CodeAccessDenied    Code = -10
	CodeNoMemory        Code = -11
	CodeBufferTooSmall  Code = -12
	CodeConfig          Code = -13
	CodeIO              Code = -14
	CodeExists          Code = -15
	CodeUnsupported     Code = -16
	CodeInternal        Code = -17
)

// Error is a failure reported by libphicrypt: the code and the message of
// phicrypt_errmsg (which never contains keys, plaintext or credentials).
// errors.Is(err, ErrKeyNotFound) matches on the code.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("phicrypt: %s", e.Message) }

// Is reports whether target is the sentinel (or any *Error) with the same
// code; ErrClosed matches only itself.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t == ErrClosed { // a C EINVAL is not "closed"
		return e == ErrClosed
	}
	return t.Code == e.Code
}

// Sentinel errors, one per code, for errors.Is.
var (
	ErrInvalidArgument = &Error{CodeInvalidArgument, "invalid argument"}
	ErrBadData         = &Error{CodeBadData, "malformed input data"}
	ErrSchema          = &Error{CodeSchema, "schema or query analysis refused the command"}
	ErrKeyNotFound     = &Error{CodeKeyNotFound, "key not found"}
	ErrKeyVault        = &Error{CodeKeyVault, "key vault I/O failed"}
	ErrKMS             = &Error{CodeKMS, "KMS failure"}
	ErrKMSAuth         = &Error{CodeKMSAuth, "KMS refused the credentials"}
	ErrTimeout         = &Error{CodeTimeout, "timed out"}
	ErrAuthentication  = &Error{CodeAuthentication, "authentication failed"}
	ErrAccessDenied    = &Error{CodeAccessDenied, "access denied"}
	ErrNoMemory        = &Error{CodeNoMemory, "out of memory"}
	ErrBufferTooSmall  = &Error{CodeBufferTooSmall, "buffer too small"}
	ErrConfig          = &Error{CodeConfig, "invalid configuration"}
	ErrIO              = &Error{CodeIO, "file I/O failed"}
	ErrExists          = &Error{CodeExists, "already exists"}
	ErrUnsupported     = &Error{CodeUnsupported, "not supported"}
	ErrInternal        = &Error{CodeInternal, "internal error"}
)

// ErrClosed is returned by calls on a closed Client or Policy.
var ErrClosed = &Error{CodeInvalidArgument, "closed"}

func newError(rc int, msg string) error {
	return &Error{Code: Code(rc), Message: msg}
}
