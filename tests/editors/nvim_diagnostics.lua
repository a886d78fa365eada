-- Test driver for tests/editors/test_neovim.py: loads the user snippet editors/neovim/gscen.lua and
-- opens a scenario; polls (up to a deadline) until gscen's diagnostic with the expected code shows;
-- records what Neovim holds; then replaces the faulty line with its fix, as a user would type it,
-- and polls until the diagnostic goes; then edits the value of `$key` and hovers on a use of it at
-- once. Writes the record as JSON and quits.
-- Parameters come from GSCEN_TEST_* variables.
local function getenv(name)
  local value = os.getenv(name)
  assert(value ~= nil and value ~= "", name .. " is not set")
  return value
end

local function diagnostics_of(buf)
  local list = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(list, {
      lnum = d.lnum,
      col = d.col,
      severity = d.severity,
      code = d.code,
      message = d.message,
    })
  end
  return list
end

-- The syntax group of each run of characters, line by line: {line, column (1-based), group}.
local function syntax_runs(buf)
  local runs = {}
  for lnum, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, true)) do
    local previous = nil
    for col = 1, #line do
      local group = vim.fn.synIDattr(vim.fn.synID(lnum, col, 1), "name")
      if group ~= previous then
        table.insert(runs, { line = lnum, column = col, group = group })
        previous = group
      end
    end
  end
  return runs
end

local function run()
  -- Neovim turns syntax on after the init file; this driver is the init file and quits before.
  vim.cmd("syntax on")
  vim.g.gscen_lsp_cmd = vim.fn.json_decode(getenv("GSCEN_TEST_LSP_CMD"))
  local gscen = dofile(getenv("GSCEN_TEST_CONFIG"))
  local expected = getenv("GSCEN_TEST_EXPECT_CODE")
  local timeout_ms = tonumber(getenv("GSCEN_TEST_TIMEOUT_MS"))
  local fix_line = tonumber(getenv("GSCEN_TEST_FIX_LINE"))
  local fix_text = getenv("GSCEN_TEST_FIX_TEXT")

  vim.cmd("edit " .. vim.fn.fnameescape(getenv("GSCEN_TEST_FILE")))
  local buf = vim.api.nvim_get_current_buf()
  local function shown()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == expected then
        return true
      end
    end
    return false
  end
  -- Each wait also ends early when the server has gone (it failed to start, or crashed).
  local function server_gone()
    return gscen.client_id(buf) == nil
  end

  vim.wait(timeout_ms, function()
    return shown() or server_gone()
  end, 20)
  local result = {
    arrived = shown(),
    version = vim.version(),
    filetype = vim.bo[buf].filetype,
    commentstring = vim.bo[buf].commentstring,
    clients = {},
    diagnostics = diagnostics_of(buf),
    syntax = syntax_runs(buf),
    lsp_log = vim.lsp.get_log_path(),
  }
  for _, client in pairs(vim.lsp.buf_get_clients(buf)) do
    table.insert(result.clients, client.name)
  end

  if result.arrived then
    vim.api.nvim_buf_set_lines(buf, fix_line - 1, fix_line, true, { fix_text })
    vim.wait(timeout_ms, function()
      return not shown() or server_gone()
    end, 20)
    result.cleared_after_fix = not shown() and not server_gone()
    result.diagnostics_after_fix = diagnostics_of(buf)

    -- a hover right after an edit (Neovim sends the change first): the edited text's answer
    vim.api.nvim_buf_set_lines(buf, 2, 3, true, { "@! set key xyz" })
    local line = vim.api.nvim_buf_get_lines(buf, 4, 5, true)[1]
    local column = string.find(line, "$key", 1, true) -- (1-based: as 0-based, on the `k`)
    local params = {
      textDocument = vim.lsp.util.make_text_document_params(buf),
      position = { line = 4, character = column },
    }
    result.hover_after_edit = ""
    for _, response in pairs(vim.lsp.buf_request_sync(buf, "textDocument/hover", params, timeout_ms) or {}) do
      if response.result and response.result.contents then
        result.hover_after_edit = response.result.contents.value or ""
      end
    end
  end
  return result
end

local function report()
  local ok, result = pcall(run)
  if not ok then
    result = { error = tostring(result) }
  end
  local out = assert(io.open(getenv("GSCEN_TEST_OUT"), "w"))
  out:write(vim.fn.json_encode(result))
  out:close()
end

-- Never leave a headless Neovim waiting for input: quit, with an error status if reporting failed.
local ok, err = pcall(report)
if not ok then
  io.stderr:write(tostring(err) .. "\n")
  vim.cmd("cquit 2")
end
vim.cmd("qa!")
