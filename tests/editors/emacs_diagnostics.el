;;; emacs_diagnostics.el --- test driver for tests/editors/test_emacs.py -*- lexical-binding: t; -*-

;;; Commentary:

;; Loads the user's init file editors/emacs/gscen-scenario.el, opens a scenario, and runs the loop an
;; interactive Emacs would (post-command hooks: `eglot-ensure' connecting, Flymake's deferred start)
;; until Flymake shows the expected gscen code, the server has gone, or a deadline passes.  Then it
;; writes what Emacs shows (mode, Flymake diagnostics, font-lock faces) as JSON and exits.
;; Parameters come from GSCEN_TEST_* variables.

;;; Code:

(require 'cl-lib)
(require 'subr-x)

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
  "Flymake's diagnostics as JSON-ready plists (1-based line, 0-based column)."
  (vconcat
   (mapcar (lambda (d)
             (save-excursion
               (goto-char (flymake-diagnostic-beg d))
               (list :line (line-number-at-pos)
                     :column (current-column)
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
                        :column (current-column)
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
  "Run the hooks an interactive Emacs runs after a command and on redisplay."
  (run-hooks 'post-command-hook 'window-configuration-change-hook))

(defun gscen-test--run ()
  "Open the scenario with the user's setup, wait for gscen's diagnostics, return the report."
  (load (gscen-test--env "GSCEN_TEST_CONFIG") nil t)
  (setq gscen-lsp-command (json-parse-string (gscen-test--env "GSCEN_TEST_LSP_CMD") :array-type 'list))
  (let* ((code (gscen-test--env "GSCEN_TEST_EXPECT_CODE"))
         (timeout (/ (string-to-number (gscen-test--env "GSCEN_TEST_TIMEOUT_MS")) 1000.0))
         (deadline (+ (float-time) timeout))
         (buffer (find-file-noselect (gscen-test--env "GSCEN_TEST_FILE"))))
    (switch-to-buffer buffer)
    (with-current-buffer buffer
      ;; Batch Emacs has no command loop and no redisplay: run the hooks they run (eglot-ensure
      ;; connects after a command; Flymake starts once the buffer is displayed), and let process
      ;; output in, until the code shows or the server is gone.
      (gscen-test--command-loop-step)
      (while (and (< (float-time) deadline)
                  (not (gscen-test--expected-shown-p code))
                  (gscen-test--server-processes-live-p))
        (gscen-test--command-loop-step)
        (accept-process-output nil 0.05))
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
