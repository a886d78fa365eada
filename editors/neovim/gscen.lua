-- gscen for Neovim 0.7+: `.scenario` files get the `scenario` filetype, `#` comments, and the gscen
-- language server (`gscen lsp`, stdio) with its diagnostics, completion, hover, go to definition...
--
-- Copy this file into your config (for example ~/.config/nvim/lua/gscen.lua and `require("gscen")`
-- from init.lua), or `dofile()` it. Set `vim.g.gscen_lsp_cmd` first to use another executable:
--   vim.g.gscen_lsp_cmd = { "/path/to/venv/bin/gscen", "lsp" }
-- The file returns a small table (`client_id(bufnr)`), so `local gscen = require("gscen")` can ask
-- which server serves a buffer. It uses only the Neovim 0.7 API (`vim.lsp.start_client` + `vim.lsp.buf_attach_client`), which
-- later versions still provide; on 0.8+ `vim.lsp.start` would do the same in one call.

local group = vim.api.nvim_create_augroup("gscen", { clear = true })

vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
  group = group,
  pattern = "*.scenario",
  callback = function()
    vim.bo.filetype = "scenario"
  end,
})

-- Highlighting (Neovim 0.7 has no semantic tokens): a Vim syntax for the grammar's line kinds. It runs
-- on the Syntax event, so it needs syntax highlighting on (the default; `:syntax on`).
local syntax_rules = [[
syntax clear
syntax match scenarioComment /^\s*#.*$/
syntax match scenarioDirective /^\s*&\h\w*/ nextgroup=scenarioDirectiveArg skipwhite
syntax match scenarioDirectiveArg /\S.*$/ contained
syntax match scenarioTime /^\s*\zs\%(@!\|@\=-\=\d\+\%(\.\d*\)\=\%([eE][-+]\=\d\+\)\=\%(:-\=\d\+\%(\.\d*\)\=\%([eE][-+]\=\d\+\)\=\)*\)\ze\%(\s\|$\)/ nextgroup=scenarioCallback,scenarioLoop skipwhite
syntax match scenarioCallback /\h[A-Za-z0-9_.-]*/ contained
syntax match scenarioLoop /for\s\+\h\w*\s\+in\s\+\S\+\s\+to\s\+\S\+\s\+call\ze\s/ contained contains=scenarioLoopKeyword,scenarioVariable nextgroup=scenarioCallback skipwhite
syntax keyword scenarioLoopKeyword for in to call contained
syntax match scenarioNamedKey /\s\zs\w\+\ze=/
syntax region scenarioString start=/"/ skip=/\\./ end=/"\|$/ contains=scenarioVariable oneline
syntax region scenarioString start=/'/ end=/'\|$/ contains=scenarioVariable oneline
syntax match scenarioPeers /{[^{}]*}\ze\s*$/ contains=scenarioVariable
syntax match scenarioVariable /\$\%(\h\w*\|{\h\w*}\)/
highlight default link scenarioComment Comment
highlight default link scenarioDirective PreProc
highlight default link scenarioDirectiveArg String
highlight default link scenarioTime Number
highlight default link scenarioCallback Function
highlight default link scenarioLoopKeyword Repeat
highlight default link scenarioNamedKey Identifier
highlight default link scenarioString String
highlight default link scenarioPeers Constant
highlight default link scenarioVariable Identifier
]]

vim.api.nvim_create_autocmd("Syntax", {
  group = group,
  pattern = "scenario",
  callback = function()
    vim.cmd(syntax_rules)
    vim.b.current_syntax = "scenario"
  end,
})

-- One server per project root: the nearest folder with `.git` or `pyproject.toml` (the same rule
-- gscen uses to find `&module` sources), else the file's folder.
local clients_by_root = {}

local function find_root(path)
  local start = vim.fn.fnamemodify(path, ":p:h")
  local dir = start
  while true do
    if vim.loop.fs_stat(dir .. "/.git") or vim.loop.fs_stat(dir .. "/pyproject.toml") then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      return start
    end
    dir = parent
  end
end

vim.api.nvim_create_autocmd("FileType", {
  group = group,
  pattern = "scenario",
  callback = function(args)
    vim.bo[args.buf].commentstring = "# %s"
    vim.bo[args.buf].comments = ":#"
    local path = vim.api.nvim_buf_get_name(args.buf)
    if path == "" then
      return
    end
    local root = find_root(path)
    local client_id = clients_by_root[root]
    if client_id == nil or vim.lsp.get_client_by_id(client_id) == nil then
      client_id = vim.lsp.start_client({
        name = "gscen",
        cmd = vim.g.gscen_lsp_cmd or { "gscen", "lsp" },
        root_dir = root,
        on_exit = function()
          clients_by_root[root] = nil
        end,
      })
      if client_id == nil then
        vim.notify("gscen: could not start the language server; set vim.g.gscen_lsp_cmd", vim.log.levels.ERROR)
        return
      end
      clients_by_root[root] = client_id
    end
    vim.lsp.buf_attach_client(args.buf, client_id)
  end,
})

return {
  -- The id of the gscen client serving `bufnr` (nil when none runs, for example it failed to start).
  client_id = function(bufnr)
    local id = clients_by_root[find_root(vim.api.nvim_buf_get_name(bufnr))]
    if id ~= nil and vim.lsp.get_client_by_id(id) ~= nil then
      return id
    end
    return nil
  end,
}
