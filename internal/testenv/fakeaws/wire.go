package fakeaws

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"time"
)

const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// xmlTime is how AWS Query services write timestamps: ISO 8601, UTC, second precision.
func xmlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// xw builds an XML document.
type xw struct{ b bytes.Buffer }

func (w *xw) open(name string) { w.b.WriteString("<" + name + ">") }

func (w *xw) close(name string) { w.b.WriteString("</" + name + ">") }

func (w *xw) text(name, v string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.b.WriteByte('>')
	if xmlSafe(v) {
		w.b.WriteString(v)
	} else {
		_ = xml.EscapeText(&w.b, []byte(v))
	}
	w.b.WriteString("</")
	w.b.WriteString(name)
	w.b.WriteByte('>')
}

// xmlSafe reports whether v needs no escaping: printable ASCII other than <>&'".
func xmlSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20 || c >= 0x7f, c == '<', c == '>', c == '&', c == '\'', c == '"':
			return false
		}
	}
	return true
}

func (w *xw) time(name string, t time.Time) { w.text(name, xmlTime(t)) }

func (w *xw) bool(name string, v bool) { w.text(name, strconv.FormatBool(v)) }

// queryResponse writes a successful AWS Query response: <ActionResponse xmlns=ns>
// <ActionResult>body</ActionResult><ResponseMetadata>...</ResponseMetadata></ActionResponse>.
// A nil body writes no Result element (as AWS does for actions without output).
func (s *Server) queryResponse(w http.ResponseWriter, ns, action string, body func(*xw)) {
	rid := s.requestID()
	var x xw
	x.b.WriteString(`<` + action + `Response xmlns="` + ns + `">`)
	if body != nil {
		x.open(action + "Result")
		body(&x)
		x.close(action + "Result")
	}
	x.open("ResponseMetadata")
	x.text("RequestId", rid)
	x.close("ResponseMetadata")
	x.close(action + "Response")
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", rid)
	h.Set("Content-Length", strconv.Itoa(x.b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(x.b.Bytes())
}

// queryError writes an AWS Query error:
// <ErrorResponse xmlns=ns><Error><Type>Sender</Type><Code>..</Code><Message>..</Message>
// </Error><RequestId>..</RequestId></ErrorResponse>.
func (s *Server) queryError(w http.ResponseWriter, ns, code, msg string, status int) {
	info := errorInfo(code)
	if status == 0 {
		status = info.status
	}
	if msg == "" {
		msg = info.message
	}
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	rid := s.requestID()
	var x xw
	x.b.WriteString(`<ErrorResponse xmlns="` + ns + `">`)
	x.open("Error")
	x.text("Type", typ)
	x.text("Code", code)
	x.text("Message", msg)
	x.close("Error")
	x.text("RequestId", rid)
	x.close("ErrorResponse")
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", rid)
	h.Set("Content-Length", strconv.Itoa(x.b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(x.b.Bytes())
}

// jsonResponse writes a successful AWS JSON 1.1 response.
func (s *Server) jsonResponse(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.jsonError(w, "ServiceException", err.Error(), 500, nil)
		return
	}
	rid := s.requestID()
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Requestid", rid)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// jsonError writes an AWS JSON 1.1 error: {"__type": code, "Message": msg, extra...}.
func (s *Server) jsonError(w http.ResponseWriter, code, msg string, status int, extra map[string]string) {
	info := errorInfo(code)
	if status == 0 {
		status = info.status
	}
	if msg == "" {
		msg = info.message
	}
	m := map[string]string{"__type": code, "Message": msg}
	for k, v := range extra {
		m[k] = v
	}
	body, _ := json.Marshal(m)
	rid := s.requestID()
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Requestid", rid)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type errInfo struct {
	status  int
	message string
}

// errorInfo is the HTTP status and a default message for the error codes the fake emits or
// an ErrorHook is likely to inject. Statuses follow the services' models.
func errorInfo(code string) errInfo {
	switch code {
	case "Throttling":
		return errInfo{400, "Rate exceeded"}
	case "AccessDenied":
		return errInfo{403, "User is not authorized to perform this action"}
	case "NoSuchEntity":
		return errInfo{404, "The entity cannot be found."}
	case "LimitExceeded":
		return errInfo{409, "Cannot exceed quota."}
	case "ReportGenerationLimitExceeded":
		return errInfo{409, "Report generation limit exceeded."}
	case "ConcurrentModification", "EntityTemporarilyUnmodifiable", "DeleteConflict", "EntityAlreadyExists":
		return errInfo{409, code}
	case "ReportInProgress":
		return errInfo{404, "Report generation is in progress."}
	case "ReportNotPresent":
		return errInfo{410, "Credential report not present. Call GenerateCredentialReport to generate one."}
	case "ReportExpired":
		return errInfo{410, "The credential report has expired. Call GenerateCredentialReport to generate a new one."}
	case "ServiceFailure":
		return errInfo{500, "The request processing has failed because of an unknown error, exception or failure."}
	case "InternalFailure", "InternalError":
		return errInfo{500, "An internal error occurred."}
	case "ServiceUnavailable":
		return errInfo{503, "Service unavailable."}
	case "ValidationError", "InvalidInput", "InvalidParameterValue", "MalformedPolicyDocument":
		return errInfo{400, "Invalid input."}
	case "InvalidClientTokenId":
		return errInfo{403, "The security token included in the request is invalid."}
	case "MissingAuthenticationToken":
		return errInfo{403, "Request is missing Authentication Token"}
	case "ExpiredToken":
		return errInfo{403, "The security token included in the request is expired"}
	case "SignatureDoesNotMatch":
		return errInfo{403, "The request signature we calculated does not match the signature you provided."}
	case "InvalidAction":
		return errInfo{400, "Could not find operation"}
	case "RegionDisabledException":
		return errInfo{403, "STS is not activated in this region for account."}
	// Organizations (JSON); all 400 except ServiceException.
	case "TooManyRequestsException":
		return errInfo{400, "AWS Organizations can't complete your request because another request is already in progress. Try again later."}
	case "AccessDeniedException":
		return errInfo{400, "You don't have permissions to access this resource."}
	case "AWSOrganizationsNotInUseException":
		return errInfo{400, "Your account is not a member of an organization."}
	case "ServiceException":
		return errInfo{500, "AWS Organizations can't complete your request because of an internal service error. Try again later."}
	case "UnrecognizedClientException":
		return errInfo{400, "The security token included in the request is invalid."}
	case "ExpiredTokenException":
		return errInfo{400, "The security token included in the request is expired"}
	}
	return errInfo{400, "Injected error " + code + "."}
}
