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
