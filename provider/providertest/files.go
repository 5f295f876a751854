package providertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// --- Gemini Files API ---
//
// genai's Files.Upload speaks Google's resumable upload protocol:
//
//	POST /upload/v1beta/files            X-Goog-Upload-Protocol: resumable
//	                                     X-Goog-Upload-Command: start
//	                                     body {"file":{"mimeType":..., "displayName":...}}
//	  <- 200, X-Goog-Upload-URL: <session URL>, X-Goog-Upload-Status: active
//	POST <session URL>                   X-Goog-Upload-Command: upload[, finalize]
//	                                     X-Goog-Upload-Offset: <bytes sent so far>
//	  <- 200, X-Goog-Upload-Status: active (more chunks) or final,
//	     body {"file":{File}} with the final one
//
// genai sends 8 MB chunks and keeps only the session URL's path and query,
// putting its own base URL in front.

// FileTTL is how long the Gemini Files API keeps a file.
const FileTTL = 48 * time.Hour

// gFile is a file held by the emulated Files API.
type gFile struct {
	id          string
	displayName string
	mimeType    string
	source      string // UPLOADED or GENERATED
	data        []byte
	created     time.Time
}

// gUpload is a resumable upload session.
type gUpload struct {
	file *gFile
	buf  bytes.Buffer
}

var gFileIDRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// fileResource renders a File as the API does.
func (s *Server) fileResource(f *gFile) map[string]any {
	sum := sha256.Sum256(f.data)
	created := f.created.UTC().Format(time.RFC3339Nano)
	m := map[string]any{
		"name":           "files/" + f.id,
		"mimeType":       f.mimeType,
		"sizeBytes":      strconv.Itoa(len(f.data)),
		"createTime":     created,
		"updateTime":     created,
		"expirationTime": f.created.Add(FileTTL).UTC().Format(time.RFC3339Nano),
		"sha256Hash":     base64.StdEncoding.EncodeToString(sum[:]),
		"uri":            s.url + "/v1beta/files/" + f.id,
		"state":          "ACTIVE",
		"source":         f.source,
	}
	if f.displayName != "" {
		m["displayName"] = f.displayName
	}
	if f.source == "GENERATED" {
		m["downloadUri"] = s.url + "/download/v1beta/files/" + f.id + ":download?alt=media"
	}
	return m
}

// lookupFile finds a live file; s.mu must be held.
func (s *Server) lookupFile(id string, now time.Time) (*gFile, bool) {
	f, ok := s.gfiles[strings.TrimPrefix(id, "files/")]
	if !ok || !now.Before(f.created.Add(FileTTL)) {
		return nil, false
	}
	return f, true
}

// fileNotFound answers as the Gemini API does for a file that does not
// exist, has expired or belongs to another project.
func fileNotFound(w http.ResponseWriter, id string) {
	writeGoogleError(w, http.StatusForbidden, "PERMISSION_DENIED",
		"You do not have permission to access the File "+strings.TrimPrefix(id, "files/")+" or it may not exist.", nil)
}

// newFileID makes a fresh id of lowercase letters and digits (genai's
// Files.Download extracts ids from URIs with ^[a-z0-9]+).
func (s *Server) newFileID(prefix string, seed []byte) string {
	return prefix + strings.ToLower(shortHash(seed, s.nextSeq())[:12])
}

// File returns the bytes of a Files API file ("files/{id}" or the bare id)
// and whether it exists: the JSONL a client uploaded, or a batch job's
// responses file.
func (s *Server) File(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.lookupFile(name, s.now())
	if !ok {
		return nil, false
	}
	return append([]byte(nil), f.data...), true
}

func (s *Server) handleFileUpload(w http.ResponseWriter, r *http.Request, rt route, body []byte) {
	if rt.uploadID == "" {
		s.startUpload(w, r, rt, body)
		return
	}
	cmd := strings.ToLower(r.Header.Get("X-Goog-Upload-Command"))
	s.mu.Lock()
	up, ok := s.uploads[rt.uploadID]
	s.mu.Unlock()
	if !ok {
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", "No upload session "+rt.uploadID+".", nil)
		return
	}
	var upload, finalize bool
	for _, c := range strings.Split(cmd, ",") {
		switch strings.TrimSpace(c) {
		case "upload":
			upload = true
		case "finalize":
			finalize = true
		case "query":
		case "cancel":
			s.mu.Lock()
			delete(s.uploads, rt.uploadID)
			s.mu.Unlock()
			w.Header().Set("X-Goog-Upload-Status", "cancelled")
			w.WriteHeader(http.StatusOK)
			return
		default:
			writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid X-Goog-Upload-Command: "+cmd, nil)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if upload {
		off, err := strconv.Atoi(r.Header.Get("X-Goog-Upload-Offset"))
		if err != nil || off != up.buf.Len() {
			delete(s.uploads, rt.uploadID)
			writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
				"X-Goog-Upload-Offset "+r.Header.Get("X-Goog-Upload-Offset")+" does not match the "+strconv.Itoa(up.buf.Len())+" bytes received.", nil)
			return
		}
		up.buf.Write(body)
	}
	if !finalize {
		w.Header().Set("X-Goog-Upload-Status", "active")
		w.Header().Set("X-Goog-Upload-Size-Received", strconv.Itoa(up.buf.Len()))
		w.WriteHeader(http.StatusOK)
		return
	}
	delete(s.uploads, rt.uploadID)
	f := up.file
	f.data = append([]byte(nil), up.buf.Bytes()...)
	f.created = s.now()
	s.gfiles[f.id] = f
	w.Header().Set("X-Goog-Upload-Status", "final")
	writeJSON(w, http.StatusOK, map[string]any{"file": s.fileResource(f)})
}

func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, rt route, body []byte) {
	if !strings.EqualFold(r.Header.Get("X-Goog-Upload-Protocol"), "resumable") ||
		!strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Goog-Upload-Command")), "start") {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"The emulator supports only resumable uploads (X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command: start).", nil)
		return
	}
	var req struct {
		File struct {
			Name        string `json:"name"`
			DisplayName string `json:"displayName"`
			MimeType    string `json:"mimeType"`
		} `json:"file"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error(), nil)
			return
		}
	}
	mt := r.Header.Get("X-Goog-Upload-Header-Content-Type")
	if mt == "" {
		mt = req.File.MimeType
	}
	if mt == "" {
		mt = "application/octet-stream"
	}
	f := &gFile{displayName: req.File.DisplayName, mimeType: mt, source: "UPLOADED"}
	uid := "emu" + strings.ToLower(shortHash(body, s.nextSeq())[:16])
	s.mu.Lock()
	if name := strings.TrimPrefix(req.File.Name, "files/"); name != "" {
		if !gFileIDRE.MatchString(name) {
			s.mu.Unlock()
			writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
				"Invalid file name "+req.File.Name+": the id must be 1-40 lowercase letters, digits or dashes, not starting or ending with a dash.", nil)
			return
		}
		if _, taken := s.lookupFile(name, s.now()); taken {
			s.mu.Unlock()
			writeGoogleError(w, http.StatusConflict, "ALREADY_EXISTS", "File files/"+name+" already exists.", nil)
			return
		}
		f.id = name
	}
	s.mu.Unlock()
	if f.id == "" {
		f.id = s.newFileID("", body)
	}
	s.mu.Lock()
	s.uploads[uid] = &gUpload{file: f}
	s.mu.Unlock()
	// The session URL keeps the version the client started with. Google
	// documents only /upload/v1beta/files and every captured session URL
	// came from a v1beta start; what a /upload/v1/files start gets back is
	// unverified (2026-12-04). genai and js-genai follow the URL's path
	// verbatim, so any version the emulator serves works.
	version := rt.version
	if version == "" {
		version = "v1beta"
	}
	w.Header().Set("X-Goog-Upload-URL", s.url+"/upload/"+version+"/files?upload_id="+uid+"&upload_protocol=resumable")
	w.Header().Set("X-Goog-Upload-Status", "active")
	w.Header().Set("X-Goog-Upload-Chunk-Granularity", "262144")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleFileGet(w http.ResponseWriter, rt route) {
	s.mu.Lock()
	f, ok := s.lookupFile(rt.fileID, s.now())
	var res map[string]any
	if ok {
		res = s.fileResource(f)
	}
	s.mu.Unlock()
	if !ok {
		fileNotFound(w, rt.fileID)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleFileDownload(w http.ResponseWriter, r *http.Request, rt route) {
	if r.URL.Query().Get("alt") != "media" {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Downloading a file needs alt=media.", nil)
		return
	}
	s.mu.Lock()
	f, ok := s.lookupFile(rt.fileID, s.now())
	s.mu.Unlock()
	if !ok {
		fileNotFound(w, rt.fileID)
		return
	}
	if f.source != "GENERATED" {
		// Only generated files have a downloadUri (genai's File.DownloadURI:
		// "only set for downloadable (generated) files"); what the service
		// answers for an uploaded one is unverified (2026-12-04): this is
		// the emulator's guess.
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"File files/"+f.id+" is not downloadable: only generated files can be downloaded.", nil)
		return
	}
	w.Header().Set("Content-Type", f.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.data)
}

func (s *Server) handleFileDelete(w http.ResponseWriter, rt route) {
	s.mu.Lock()
	_, ok := s.lookupFile(rt.fileID, s.now())
	if ok {
		delete(s.gfiles, rt.fileID)
	}
	s.mu.Unlock()
	if !ok {
		fileNotFound(w, rt.fileID)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleFileList answers files.list: the live files, newest first, in
// pages of pageSize (default 10, at most 100) with a nextPageToken.
func (s *Server) handleFileList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("pageSize"))
	if size <= 0 {
		size = 10
	}
	size = min(size, 100)
	start := 0
	if t := q.Get("pageToken"); t != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(t, "p"))
		if err != nil || v < 0 {
			writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid page token.", nil)
			return
		}
		start = v
	}
	now := s.now()
	s.mu.Lock()
	var live []*gFile
	for id := range s.gfiles {
		if f, ok := s.lookupFile(id, now); ok {
			live = append(live, f)
		}
	}
	slices.SortFunc(live, func(a, b *gFile) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	files := []any{}
	next := ""
	for i := start; i < len(live); i++ {
		if len(files) == size {
			next = "p" + strconv.Itoa(i)
			break
		}
		files = append(files, s.fileResource(live[i]))
	}
	s.mu.Unlock()
	resp := map[string]any{}
	if len(files) > 0 {
		resp["files"] = files // proto JSON omits an empty repeated field
	}
	if next != "" {
		resp["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}
