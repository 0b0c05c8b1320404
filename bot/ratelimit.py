"""Keep within Telegram's limits for bots: about 30 messages a second overall and one a second
per chat. Shared through Redis, so every worker process (and the store process, when it runs
the worker too) counts against the same budget.

A message reserves its sending time once (`reserve`, one Lua script, atomic): the first time at
or after now when its chat's previous message is a second old and the overall budget has room.
Its job is then deferred to that time (nobody sleeps holding a worker slot) and, when it runs
again, finds its reservation and sends. A message is therefore looked at twice at most, however
long the queue: the earlier design let every waiting message try again at each second's
boundary, so a backlog of N messages cost N Redis transactions and N job restarts a second (the
checkout bench measured the worker at 6–7 ms of CPU per order, most of it those retries).

* per chat: `bot:ratelimit:chat:{chat_id}` holds the time (ms) from which the chat may get its
  next message, expiring then. A 429 for a chat moves it to Telegram's `retry_after`
  (`pause_chat`), so every message queued for that chat waits too.
* overall: the budget is counted per wall-clock second (`bot:ratelimit:win:{second}`); a second
  holds at most GLOBAL_PER_SECOND messages, and while the queue is longer than that the slots of a
  second are spread evenly through it (one every 40 ms at 25 a second). `bot:ratelimit:first` is
  the first second that may still have room, so a long queue is not scanned from its start.
  Telegram's limit is itself approximate ("about 30"), so the budget is 25.
* a reservation (`bot:ratelimit:held:{holder}`, the arq job id) is kept until the message is sent
  or given up (`release`), so a job that runs again keeps its slot instead of taking another.

Times come from Redis (TIME), so the workers' clocks need not agree.
"""

from __future__ import annotations

from redis.asyncio import Redis

GLOBAL_PER_SECOND = 25
CHAT_INTERVAL_MS = 1000
_PREFIX = "bot:ratelimit"
SEND_NOW_MS = 20  # a reservation this close is sent at once rather than deferred
MAX_SCAN_SECONDS = 86_400  # a day of queue; past it the message takes the last second looked at

# KEYS: chat key, window key prefix, first-window key, held key.
# ARGV: per second, chat interval ms, max seconds to scan.
# Returns [ms to wait (0 or more), the reserved time in ms].
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('GET', KEYS[4])
if held then
    local at = tonumber(held)
    return {math.max(at - now, 0), at}
end
local rate = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local ready = now
local chat_next = tonumber(redis.call('GET', KEYS[1]) or '0')
if chat_next > ready then ready = chat_next end
local second = math.floor(ready / 1000)
local first = tonumber(redis.call('GET', KEYS[3]) or '0')
local from_first = false
if first >= second then second = first; from_first = true end
local limit = second + tonumber(ARGV[3])
local count = tonumber(redis.call('GET', KEYS[2] .. second) or '0')
while count >= rate and second < limit do
    second = second + 1
    count = tonumber(redis.call('GET', KEYS[2] .. second) or '0')
end
if from_first and count + 1 >= rate then
    redis.call('SET', KEYS[3], second + 1, 'PXAT', (second + 3) * 1000)
elseif from_first and second > first then
    redis.call('SET', KEYS[3], second, 'PXAT', (second + 2) * 1000)
end
local slot = second * 1000 + math.floor(count * 1000 / rate)
local at = math.max(ready, slot)
redis.call('INCR', KEYS[2] .. second)
redis.call('PEXPIREAT', KEYS[2] .. second, (second + 2) * 1000)
redis.call('SET', KEYS[1], at + interval, 'PXAT', at + interval)
redis.call('SET', KEYS[4], at, 'PXAT', math.max(at, now) + 600000)
return {math.max(at - now, 0), at}
"""

# KEYS: chat key. ARGV: ms to hold the chat.
_PAUSE = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local chat_next = tonumber(redis.call('GET', KEYS[1]) or '0')
if chat_next < until_ms then redis.call('SET', KEYS[1], until_ms, 'PXAT', until_ms) end
return until_ms
"""


class TelegramRateLimiter:
    def __init__(self, redis: Redis, *, global_per_second: int = GLOBAL_PER_SECOND,
                 chat_interval_ms: int = CHAT_INTERVAL_MS) -> None:
        self.redis = redis
        self.global_per_second = global_per_second
        self.chat_interval_ms = chat_interval_ms

    async def reserve(self, chat_id: int, holder: str) -> float:
        """Reserve the message's sending time (or find the one `holder` already has): the seconds
        until it, 0.0 when the message may go now. The caller defers its job by that much."""
        wait_ms, _ = await self.reserve_slot(chat_id, holder)
        return 0.0 if wait_ms <= SEND_NOW_MS else wait_ms / 1000

    async def reserve_slot(self, chat_id: int, holder: str) -> tuple[int, int]:
        """`reserve`'s answer in full: (ms until the reserved time, the reserved time in ms since the
        epoch by Redis's clock)."""
        script = self.redis.register_script(_RESERVE)  # EVALSHA, the script sent once per server
        keys = [f"{_PREFIX}:chat:{chat_id}", f"{_PREFIX}:win:", f"{_PREFIX}:first", f"{_PREFIX}:held:{holder}"]
        answer = await script(keys=keys, args=[self.global_per_second, self.chat_interval_ms, MAX_SCAN_SECONDS])
        return int(answer[0]), int(answer[1])

    async def release(self, holder: str) -> None:
        """The message was sent or given up: its reservation is spent (a retry reserves anew)."""
        await self.redis.delete(f"{_PREFIX}:held:{holder}")

    async def chat_wait(self, chat_id: int) -> float:
        """Seconds until the chat's next slot (0.0: free now); takes nothing."""
        left_ms = int(await self.redis.pttl(f"{_PREFIX}:chat:{chat_id}"))
        return max(left_ms, 0) / 1000

    async def pause_chat(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429 for this chat: hold every message to it for `seconds` (or longer,
        when its queue already reaches further)."""
        script = self.redis.register_script(_PAUSE)
        await script(keys=[f"{_PREFIX}:chat:{chat_id}"], args=[max(int(seconds * 1000), 1)])
