;;; gscen-scenario.el --- Gumby .scenario files: a major mode and the gscen language server -*- lexical-binding: t; -*-

;; Tried with: GNU Emacs 28.2 and Debian's elpa-eglot 1.9 (Emacs 29+ ships eglot itself).

;;; Commentary:

;; `gscen-scenario-mode' for `*.scenario' files: `#' comments (only at the start of a line, as in the
;; grammar), font-lock for time specs, `@!', callbacks, `for ... call' loops, directives, named
;; arguments, `$var'/`${var}', quoted strings and peer specs; and eglot, started by
;; `eglot-ensure', running `gscen lsp' (stdio) for diagnostics, completion, hover, definitions...
;;
;; Install: put this file on `load-path' and add to your init file
;;   (require 'gscen-scenario)
;; or simply (load "/path/to/gscen-scenario.el").  Another gscen executable:
;;   (setq gscen-lsp-command '("/path/to/venv/bin/gscen" "lsp"))
;; Diagnostics appear through Flymake (M-x flymake-show-buffer-diagnostics).

;;; Code:

(require 'eglot)

(defgroup gscen nil
  "Gumby scenario files and the gscen language server."
  :group 'languages
  :prefix "gscen-")

(defcustom gscen-lsp-command '("gscen" "lsp")
  "The command line that starts the gscen language server on stdio."
  :type '(repeat string))

(defcustom gscen-scenario-start-eglot t
  "Whether opening a scenario file starts eglot (`eglot-ensure')."
  :type 'boolean)

(defconst gscen-scenario--time
  (concat "@?-?[0-9]+\\(?:\\.[0-9]*\\)?\\(?:[eE][-+]?[0-9]+\\)?"
          "\\(?::-?[0-9]+\\(?:\\.[0-9]*\\)?\\(?:[eE][-+]?[0-9]+\\)?\\)*")
  "A time spec, `@H:M:S.f' (the grammar's TIME terminal).")

(defconst gscen-scenario--var
  "\\$\\(?:[A-Za-z_][A-Za-z0-9_]*\\|{[A-Za-z_][A-Za-z0-9_]*}\\)"
  "A variable reference, `$name' or `${name}'.")

(defconst gscen-scenario--event-head
  (let ((bound (concat "\\(?:-?[0-9]+\\|" gscen-scenario--var "\\)")))
    (concat "^[ \t]*\\(?:\\(@!\\)\\|\\(" gscen-scenario--time "\\)\\)\\(?:[ \t]\\|$\\)"
            "[ \t]*\\(?:\\(for\\)[ \t]+\\([A-Za-z_][A-Za-z0-9_]*\\)[ \t]+\\(in\\)[ \t]+" bound
            "[ \t]+\\(to\\)[ \t]+" bound "[ \t]+\\(call\\)[ \t]+\\)?"
            "\\([A-Za-z_][A-Za-z0-9_.-]*\\)"))
  "An event up to its callback.
Groups: 1 `@!', 2 time, 3-7 the loop clause, 8 the callback.")

(defun gscen-scenario--match-variable (limit)
  "Find the next `$var' before LIMIT outside comments.
Inside quotes too: Gumby expands variables there."
  (let (found)
    (while (and (not found) (re-search-forward gscen-scenario--var limit t))
      (setq found (not (nth 4 (syntax-ppss (match-beginning 0))))))
    found))

(defconst gscen-scenario-font-lock-keywords
  `((,gscen-scenario--event-head
     (1 font-lock-keyword-face nil t)
     (2 font-lock-constant-face nil t)
     (3 font-lock-keyword-face nil t)
     (4 font-lock-variable-name-face nil t)
     (5 font-lock-keyword-face nil t)
     (6 font-lock-keyword-face nil t)
     (7 font-lock-keyword-face nil t)
     (8 font-lock-function-name-face))
    ("^[ \t]*\\(&module\\)\\(?:[ \t]+\\(.+?\\)\\)?[ \t]*$"
     (1 font-lock-preprocessor-face) (2 font-lock-type-face nil t))
    ("^[ \t]*\\(&[A-Za-z_][A-Za-z0-9_]*\\)\\(?:[ \t]+\\(.+?\\)\\)?[ \t]*$"
     (1 font-lock-preprocessor-face) (2 font-lock-string-face nil t))
    ("[ \t]\\([A-Za-z0-9_]+\\)=" 1 font-lock-builtin-face)
    ;; Only the brace group that ends the line selects peers.
    ("\\({[^{}\n]*}\\)[ \t]*$" 1 font-lock-constant-face)
    (gscen-scenario--match-variable 0 font-lock-variable-name-face t))
  "Font-lock rules for `gscen-scenario-mode'.
Comments and strings come from the syntax table.")

(defvar gscen-scenario-mode-syntax-table
  (let ((table (make-syntax-table)))
    ;; `#' starts a comment only at the start of a line (see the syntax-propertize rule); elsewhere,
    ;; as in `a#b', it is part of a word.
    (modify-syntax-entry ?# "_" table)
    (modify-syntax-entry ?\n ">" table)
    (modify-syntax-entry ?\" "\"" table)
    (modify-syntax-entry ?' "\"" table)
    (modify-syntax-entry ?\\ "\\" table)
    (modify-syntax-entry ?_ "_" table)
    (modify-syntax-entry ?$ "'" table)
    (modify-syntax-entry ?{ "(}" table)
    (modify-syntax-entry ?} "){" table)
    table)
  "Syntax table for `gscen-scenario-mode'.")

(defconst gscen-scenario--syntax-propertize
  (syntax-propertize-rules ("^[ \t]*\\(#\\)" (1 "<")))
  "Mark a `#' that starts a line as a comment starter.")

;;;###autoload
(define-derived-mode gscen-scenario-mode prog-mode "Scenario"
  "Major mode for Gumby `.scenario' files.
The gscen language server runs through eglot (see `gscen-lsp-command')."
  :syntax-table gscen-scenario-mode-syntax-table
  (setq-local comment-start "# ")
  (setq-local comment-end "")
  (setq-local comment-start-skip "^[ \t]*#+[ \t]*")
  (setq-local comment-use-syntax t)
  (setq-local syntax-propertize-function gscen-scenario--syntax-propertize)
  (setq-local font-lock-defaults '(gscen-scenario-font-lock-keywords))
  (when gscen-scenario-start-eglot
    (eglot-ensure)))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.scenario\\'" . gscen-scenario-mode))

;; gscen reads scenarios as UTF-8 whatever the locale; so does Emacs, then.
;;;###autoload
(modify-coding-system-alist 'file "\\.scenario\\'" 'utf-8)

;; The language id sent to the server is the mode name without `-mode': `gscen-scenario', as in VS Code.
(add-to-list 'eglot-server-programs
             `(gscen-scenario-mode . ,(lambda (&optional _interactive) gscen-lsp-command)))

(provide 'gscen-scenario)
;;; gscen-scenario.el ends here
