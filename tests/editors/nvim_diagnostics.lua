-- Test driver for tests/editors/test_neovim.py: loads the user snippet editors/neovim/gscen.lua,
-- opens a scenario, polls (up to a deadline) until gscen's diagnostics with the expected code arrive,
-- writes what Neovim holds as JSON, and quits. Parameters come from GSCEN_TEST_* variables.
local function getenv(name)
  local value = os.getenv(name)
  assert(value ~= nil and value ~= "", name .. " is not set")
  return value
end

local function run()
  vim.g.gscen_lsp_cmd = vim.fn.json_decode(getenv("GSCEN_TEST_LSP_CMD"))
  local gscen = dofile(getenv("GSCEN_TEST_CONFIG"))
  local expected = getenv("GSCEN_TEST_EXPECT_CODE")
  local timeout_ms = tonumber(getenv("GSCEN_TEST_TIMEOUT_MS"))

  vim.cmd("edit " .. vim.fn.fnameescape(getenv("GSCEN_TEST_FILE")))
  local buf = vim.api.nvim_get_current_buf()
  -- Done when the expected code is shown, or early when the server has gone (it failed to start).
  local function expected_arrived_or_server_gone()
    if gscen.client_id(buf) == nil then
      return true
    end
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == expected then
        return true
      end
    end
    return false
  end
  vim.wait(timeout_ms, expected_arrived_or_server_gone, 20)

  local arrived = false
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    arrived = arrived or d.code == expected
  end
  local result = {
    arrived = arrived,
    version = vim.version(),
    filetype = vim.bo[buf].filetype,
    commentstring = vim.bo[buf].commentstring,
    clients = {},
    diagnostics = {},
    lsp_log = vim.lsp.get_log_path(),
  }
  for _, client in pairs(vim.lsp.buf_get_clients(buf)) do
    table.insert(result.clients, client.name)
  end
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(result.diagnostics, {
      lnum = d.lnum,
      col = d.col,
      severity = d.severity,
      code = d.code,
      message = d.message,
    })
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
