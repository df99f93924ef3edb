package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// CodeUnauthorized is the error code of a request without a valid admin
// token, in the API's error shape {"error":{"code","message"}}.
const CodeUnauthorized = "unauthorized"

// howToGetToken ends every 401 message.
const howToGetToken = "the admin token is the server's " + EnvAdminToken +
	", or the " + TokenFileName + " file in its data directory (printed once when the server generated it)"

// Middleware passes on to next only the requests that carry
// "Authorization: Bearer <token>". Others get 401 with
// WWW-Authenticate: Bearer realm="jenkinds" and a JSON body that says what
// was missing and where the token is. The comparison takes the same time
// whatever the presented token is, and nothing is logged.
func Middleware(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		scheme, presented, _ := strings.Cut(header, " ")
		presented = strings.TrimSpace(presented)
		var problem string
		switch {
		case header == "":
			problem = "missing Authorization header: send 'Authorization: Bearer <admin token>'"
		case !strings.EqualFold(scheme, "Bearer") || presented == "":
			problem = "the Authorization header must be 'Bearer <admin token>'"
		default:
			// Hashing first makes the comparison independent of the
			// presented token's length, too.
			got := sha256.Sum256([]byte(presented))
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
			problem = "the admin token is not valid"
		}
		unauthorized(w, problem+"; "+howToGetToken)
	})
}

// unauthorized writes the 401 answer.
func unauthorized(w http.ResponseWriter, message string) {
	h := w.Header()
	h.Set("WWW-Authenticate", `Bearer realm="jenkinds"`)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // keep "Bearer <admin token>" readable
	enc.Encode(struct {
		Error body `json:"error"`
	}{body{CodeUnauthorized, message}})
}
