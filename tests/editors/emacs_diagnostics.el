;;; emacs_diagnostics.el --- test driver for tests/editors/test_emacs.py -*- lexical-binding: t; -*-

;;; Commentary:

;; Loads the user's init file editors/emacs/gscen-scenario.el, opens a scenario, and runs the loop an
;; interactive Emacs would (post-command hooks: `eglot-ensure' connecting, Flymake's deferred start;
;; idle timers: eglot sending changes) until Flymake shows the expected gscen code, the server has
;; gone, or a deadline passes.  It records what Emacs shows (mode, Flymake diagnostics, font-lock
;; faces), replaces the faulty line with its fix as a user would, waits until the diagnostic goes,
;; changes the value of `$key' and hovers on a use of it at once, writes the record as JSON and exits.  Parameters come from GSCEN_TEST_* variables.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'flymake)
(require 'eglot)
(defvar gscen-lsp-command)              ; defined by the init file under test

(defun gscen-test--env (name)
  "The value of the environment variable NAME, which must be set."
  (let ((value (getenv name)))
    (if (or (null value) (string-empty-p value))
        (error "%s is not set" name)
      value)))

(defun gscen-test--expected-shown-p (code)
  "Whether Flymake shows a diagnostic with CODE (eglot writes it as `[CODE]')."
  (cl-some (lambda (d) (string-search (format "[%s]" code) (flymake-diagnostic-text d)))
           (flymake-diagnostics)))

(defun gscen-test--server-processes-live-p ()
  "Whether any subprocess (the language server is the only one) is still running."
  (cl-some #'process-live-p (process-list)))

(defun gscen-test--diagnostics ()
  "Flymake's diagnostics as JSON-ready plists.
Lines are 1-based, columns 0-based in characters (not display columns)."
  (vconcat
   (mapcar (lambda (d)
             (save-excursion
               (goto-char (flymake-diagnostic-beg d))
               (list :line (line-number-at-pos)
                     :column (- (point) (line-beginning-position))
                     :type (symbol-name (flymake-diagnostic-type d))
                     :text (flymake-diagnostic-text d))))
           (flymake-diagnostics))))

(defun gscen-test--faces ()
  "Runs of font-lock faces in the buffer: line (1-based), columns, face and text."
  (font-lock-ensure)
  (let ((runs '()) (pos (point-min)))
    (while (< pos (point-max))
      (let ((next (next-single-property-change pos 'face nil (point-max)))
            (face (get-text-property pos 'face)))
        (when face
          (save-excursion
            (goto-char pos)
            (push (list :line (line-number-at-pos)
                        :column (- pos (line-beginning-position))
                        :face (format "%s" face)
                        :text (buffer-substring-no-properties pos next))
                  runs)))
        (setq pos next)))
    (vconcat (nreverse runs))))

(defun gscen-test--stderr ()
  "What the language server wrote to stderr (eglot keeps it in a buffer)."
  (mapconcat (lambda (b) (with-current-buffer b (buffer-string)))
             (cl-remove-if-not (lambda (b) (string-match-p "stderr\\*\\'" (buffer-name b)))
                               (buffer-list))
             "\n"))

(defun gscen-test--command-loop-step ()
  "Run what an interactive Emacs runs after a command, on redisplay, and when idle."
  (run-hooks 'post-command-hook 'window-configuration-change-hook)
  (mapc #'timer-event-handler (copy-sequence timer-idle-list)))

(defun gscen-test--wait-until (deadline predicate)
  "Run the command loop until PREDICATE holds, DEADLINE or the server is gone.
Process output comes in between steps."
  (while (and (< (float-time) deadline)
              (not (funcall predicate))
              (gscen-test--server-processes-live-p))
    (gscen-test--command-loop-step)
    (accept-process-output nil 0.05)))

(defun gscen-test--fix-and-wait (code deadline)
  "Replace the faulty line with its fix and wait until DEADLINE.
Return t once Flymake no longer shows CODE while the server still runs."
  (if (not (gscen-test--expected-shown-p code))
      :false
    (save-excursion
      (goto-char (point-min))
      (forward-line (1- (string-to-number (gscen-test--env "GSCEN_TEST_FIX_LINE"))))
      (delete-region (line-beginning-position) (line-end-position))
      (insert (gscen-test--env "GSCEN_TEST_FIX_TEXT")))
    (gscen-test--wait-until deadline (lambda () (not (gscen-test--expected-shown-p code))))
    (if (and (not (gscen-test--expected-shown-p code)) (gscen-test--server-processes-live-p)) t :false)))

(defun gscen-test--hover-after-edit ()
  "Set `$key' to another value, then hover on a use of it at once; return the hover's text.
The change goes to the server first, as eglot sends it before a request."
  (save-excursion
    (goto-char (point-min))
    (forward-line 2)
    (delete-region (line-beginning-position) (line-end-position))
    (insert "@! set key xyz")
    (forward-line 2)
    (search-forward "$key")
    (backward-char 2)
    (eglot--signal-textDocument/didChange)
    (let* ((result (jsonrpc-request (eglot-current-server) :textDocument/hover
                                    (eglot--TextDocumentPositionParams)))
           (contents (plist-get result :contents)))
      (cond ((stringp contents) contents)
            ((plist-get contents :value))
            (t "")))))

(defun gscen-test--run ()
  "Open the scenario with the user's setup and return the report.
Waits for gscen's diagnostics first."
  (load (gscen-test--env "GSCEN_TEST_CONFIG") nil t)
  (setq gscen-lsp-command (json-parse-string (gscen-test--env "GSCEN_TEST_LSP_CMD") :array-type 'list))
  (let* ((code (gscen-test--env "GSCEN_TEST_EXPECT_CODE"))
         (timeout (/ (string-to-number (gscen-test--env "GSCEN_TEST_TIMEOUT_MS")) 1000.0))
         (deadline (+ (float-time) timeout))
         (buffer (find-file-noselect (gscen-test--env "GSCEN_TEST_FILE"))))
    (switch-to-buffer buffer)
    (with-current-buffer buffer
      ;; Batch Emacs has no command loop, no redisplay and is never idle: the driver runs the hooks
      ;; and timers those would (eglot-ensure connects after a command; Flymake starts once the
      ;; buffer is displayed; eglot sends changes when idle).
      (gscen-test--command-loop-step)
      (gscen-test--wait-until deadline (lambda () (gscen-test--expected-shown-p code)))
      (let ((server (eglot-current-server)))
        (list :arrived (if (gscen-test--expected-shown-p code) t :false)
              :emacs_version emacs-version
              :eglot_version (or (bound-and-true-p eglot-version)
                                 (let ((lib (locate-library "eglot")))
                                   (and lib (file-name-nondirectory
                                             (directory-file-name (file-name-directory lib)))))
                                 "")
              :mode (symbol-name major-mode)
              :comment_start comment-start
              :language_id (if server (eglot--language-id server) "")
              :flymake (if (bound-and-true-p flymake-mode) t :false)
              :diagnostics (gscen-test--diagnostics)
              :faces (gscen-test--faces)
              :cleared_after_fix (gscen-test--fix-and-wait code (+ (float-time) timeout))
              :diagnostics_after_fix (gscen-test--diagnostics)
              :hover_after_edit (if (gscen-test--server-processes-live-p)
                                    (gscen-test--hover-after-edit)
                                  "")
              :server_stderr (gscen-test--stderr))))))

(defun gscen-test--report ()
  "Run, and write the report (or the error) as JSON to GSCEN_TEST_OUT."
  (let ((report (condition-case err
                    (gscen-test--run)
                  (error (list :error (error-message-string err)
                               :server_stderr (gscen-test--stderr))))))
    (with-temp-file (gscen-test--env "GSCEN_TEST_OUT")
      (insert (json-serialize report)))))

(condition-case err
    (progn (gscen-test--report) (kill-emacs 0))
  (error (message "driver failed: %s" (error-message-string err))
         (kill-emacs 2)))

;;; emacs_diagnostics.el ends here
