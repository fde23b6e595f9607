/**
 * lua-numbers.ts - Value.add inside Redis: msgpack numbers and bigints read,
 * added and written back in Lua, byte for byte as the SDK's data codec
 * (msgpackr, structured clone, bigint extension) would encode the sum, so a
 * value that went through add compares equal by bytes to the same number
 * encoded by a client (compareAndSet's fast path).
 *
 * - Numbers add as Lua doubles, which are IEEE doubles like JS numbers, so the
 *   sum is JS's to the bit (0.1 + 0.2 too); it is stored as msgpack, never as
 *   text, so no formatting can round it. Integers in msgpackr's int range take
 *   its integer forms (fixints only below 0x40: 0x40-0x7f are its record
 *   references), anything else float64, its bits as the CPU gave them (a NaN
 *   too: the same operation on the same operands gives the same NaN as in V8).
 * - BigInts add exactly, as big-endian two's complement byte strings (int64,
 *   uint64, or msgpackr's 0x42 extension of any length), then are written in
 *   the form msgpackr picks for the sum: int64, uint64, the extension in whole
 *   8-byte words, or for sums beyond 2^65536 in the fewest bytes.
 */
export const NUMBERS = String.raw`
local function num(b)
  local n = #b
  if n == 0 then return nil end
  local h = string.byte(b, 1)
  if n == 1 then
    if h <= 0x3f then return 'n', h end
    if h >= 0xe0 then return 'n', h - 256 end
    return nil
  end
  if h == 0xcc and n == 2 then return 'n', string.byte(b, 2) end
  if h == 0xcd and n == 3 then return 'n', (struct.unpack('>I2', b, 2)) end
  if h == 0xce and n == 5 then return 'n', (struct.unpack('>I4', b, 2)) end
  if h == 0xd0 and n == 2 then return 'n', (struct.unpack('>b', b, 2)) end
  if h == 0xd1 and n == 3 then return 'n', (struct.unpack('>i2', b, 2)) end
  if h == 0xd2 and n == 5 then return 'n', (struct.unpack('>i4', b, 2)) end
  if h == 0xca and n == 5 then return 'n', (struct.unpack('>f', b, 2)) end
  if h == 0xcb and n == 9 then return 'n', (struct.unpack('>d', b, 2)) end
  if h == 0xd3 and n == 9 then return 'b', string.sub(b, 2) end
  if h == 0xcf and n == 9 then return 'b', '\0' .. string.sub(b, 2) end
  local len, at
  if h == 0xd4 then len, at = 1, 3
  elseif h == 0xd5 then len, at = 2, 3
  elseif h == 0xd6 then len, at = 4, 3
  elseif h == 0xd7 then len, at = 8, 3
  elseif h == 0xd8 then len, at = 16, 3
  elseif h == 0xc7 and n >= 3 then len, at = string.byte(b, 2), 4
  elseif h == 0xc8 and n >= 4 then len, at = (struct.unpack('>I2', b, 2)), 5
  elseif h == 0xc9 and n >= 6 then len, at = (struct.unpack('>I4', b, 2)), 7
  else return nil end
  if len == 0 or n ~= at + len - 1 or string.byte(b, at - 1) ~= 0x42 then return nil end
  return 'b', string.sub(b, at)
end

local function encnum(x)
  if x == math.floor(x) then -- false for NaN
    if x >= 0 and x < 4294967296 then
      if x < 64 then return string.char(x) end
      if x < 256 then return '\204' .. string.char(x) end
      if x < 65536 then return '\205' .. struct.pack('>I2', x) end
      return '\206' .. struct.pack('>I4', x)
    elseif x < 0 and x >= -2147483648 then
      if x >= -32 then return string.char(256 + x) end
      if x >= -128 then return '\208' .. struct.pack('>b', x) end
      if x >= -32768 then return '\209' .. struct.pack('>i2', x) end
      return '\210' .. struct.pack('>i4', x)
    end
  end
  return '\203' .. struct.pack('>d', x)
end

local function sext(s, n)
  if #s >= n then return s end
  local pad = '\0'
  if string.byte(s, 1) >= 128 then pad = '\255' end
  return string.rep(pad, n - #s) .. s
end

-- Limbs of 6 bytes: a Lua number holds 2^53 exactly, so two limbs and a carry add without loss;
-- read and written by struct in batches (Lua's C stack takes a few thousand values at once),
-- least significant first, as the carry goes. A byte at a time, an add to a 60 KB bigint held
-- Redis ~19 ms and one to 1 MB ~340 ms (fifty of the first, sent together by one app, held it
-- past another daemon's lease renewal); in limbs, ~2.7 and ~80 ms.
local LIMB, LIMB_BASE, LIMB_BATCH = 6, 2 ^ 48, 1000

local function badd(a, b)
  local w = math.ceil((math.max(#a, #b) + 1) / LIMB)
  a, b = sext(a, w * LIMB), sext(b, w * LIMB)
  local parts, carry, last = {}, 0, w
  while last >= 1 do
    local first = math.max(1, last - LIMB_BATCH + 1)
    local k = last - first + 1
    local fmt = '>' .. string.rep('I' .. LIMB, k)
    local x = {struct.unpack(fmt, a, (first - 1) * LIMB + 1)}
    local y = {struct.unpack(fmt, b, (first - 1) * LIMB + 1)}
    for i = k, 1, -1 do
      local sum = x[i] + y[i] + carry
      if sum >= LIMB_BASE then x[i] = sum - LIMB_BASE; carry = 1 else x[i] = sum; carry = 0 end
    end
    parts[#parts + 1] = struct.pack(fmt, unpack(x, 1, k))
    last = first - 1
  end
  local n = #parts
  for i = 1, math.floor(n / 2) do parts[i], parts[n - i + 1] = parts[n - i + 1], parts[i] end
  return table.concat(parts)
end

local function trim(s)
  local i, n = 1, #s
  while i < n do
    local c, d = string.byte(s, i, i + 1)
    if (c == 0 and d < 128) or (c == 255 and d >= 128) then i = i + 1 else break end
  end
  return string.sub(s, i)
end

local function exthead(n)
  if n == 1 then return '\212' end
  if n == 2 then return '\213' end
  if n == 4 then return '\214' end
  if n == 8 then return '\215' end
  if n == 16 then return '\216' end
  if n < 256 then return '\199' .. string.char(n) end
  if n < 65536 then return '\200' .. struct.pack('>I2', n) end
  return '\201' .. struct.pack('>I4', n)
end

local function encbig(s)
  s = trim(s)
  local n, top = #s, string.byte(s, 1)
  if n <= 8 then return '\211' .. sext(s, 8) end
  if n == 9 and top == 0 then return '\207' .. string.sub(s, 2) end
  if n <= 8192 or (n == 8193 and (top == 0 or top == 255)) then s = sext(s, math.ceil(n / 8) * 8) end
  return exthead(#s) .. '\66' .. s
end

local KIND = {n = 'number', b = 'bigint'}
`;
