// A Node 20 client of the kind users write: plain fetch, no dependencies.
// Submits one video job, polls it, prints the video URL; exit status 1 with a
// message on stderr when it cannot.
//
// It behaves well: it retries 429, 5xx, 409 "still running" (seedance2ai),
// dropped connections, timeouts and unreadable bodies with exponential backoff,
// never sooner than Retry-After; a retried submit keeps its Idempotency-Key, and
// on seedanceapi (no idempotency) a submit whose answer was lost is not repeated;
// it gives up after a deadline and polls every 15 s.
//
//   node generate.mjs --provider seedance2ai --base-url URL --api-key KEY [--deadline S] [--timeout S]
//
// Waits are in the API's seconds divided by SEEDANCE_MOCK_TIME_SCALE (1 when unset),
// so under `seedance-mock exercise` they follow the simulator's faster clock.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    provider: { type: "string", default: process.env.SEEDANCE_MOCK_PROVIDER ?? "seedance2ai" },
    "base-url": { type: "string", default: process.env.SEEDANCE_MOCK_BASE_URL },
    "api-key": { type: "string", default: process.env.SEEDANCE_MOCK_API_KEY },
    deadline: { type: "string", default: "1200" }, // seconds for the whole job
    timeout: { type: "string", default: "2" }, // real seconds per request
  },
});

const provider = args.provider;
const baseUrl = args["base-url"].replace(/\/$/, "");
const scale = Number(process.env.SEEDANCE_MOCK_TIME_SCALE ?? "1");
const deadline = Number(args.deadline);
const timeoutMs = Number(args.timeout) * 1000;
const started = Date.now();
const ATTEMPTS = 5;
const RETRIED = new Set([429, 500, 502, 503, 504]);

class GiveUp extends Error {}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, (seconds / scale) * 1000));
const elapsed = () => ((Date.now() - started) / 1000) * scale;

function checkDeadline() {
  if (elapsed() > deadline) throw new GiveUp(`gave up: the job is not done after ${deadline} s`);
}

function backoff(attempt, response) {
  let wait = Math.min(4 * 2 ** (attempt - 1), 120);
  const told = Number(response?.headers.get("retry-after"));
  if (told > 0) wait = Math.max(wait, told);
  return wait;
}

// The connection was never made: the server cannot have acted on the request.
function neverSent(error) {
  const code = error?.cause?.code;
  return code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT";
}

async function call(method, path, body) {
  const submit = method === "POST";
  const replayable = !submit || provider === "seedance2ai";
  const headers = { Authorization: `Bearer ${args["api-key"]}` };
  if (body) headers["Content-Type"] = "application/json";
  if (submit && provider === "seedance2ai") headers["Idempotency-Key"] = randomUUID();
  let problem = "";
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    checkDeadline();
    let response;
    try {
      response = await fetch(baseUrl + path, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      if (response.ok) {
        try {
          return JSON.parse(text);
        } catch {
          problem = `${response.status} with an unreadable body`;
          if (!replayable) throw new GiveUp(`${problem}; not retried, a repeat could pay twice`);
        }
      } else if (RETRIED.has(response.status) || (response.status === 409 && replayable)) {
        problem = `${response.status} ${text.slice(0, 200)}`;
      } else {
        throw new GiveUp(`${response.status} ${text.slice(0, 200)}`);
      }
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      problem = `${error.name}: ${error.cause?.code ?? error.message}`;
      if (!replayable && !neverSent(error)) {
        throw new GiveUp(`${problem}; not retried, a repeat could pay twice`);
      }
    }
    if (attempt < ATTEMPTS) {
      const wait = backoff(attempt, response);
      console.error(`${method} ${path}: ${problem}; retrying in ${wait} s`);
      await sleep(wait);
    }
  }
  throw new GiveUp(`${method} ${path}: ${problem} (after ${ATTEMPTS} attempts)`);
}

async function generate() {
  let path;
  if (provider === "seedance2ai") {
    const task = await call("POST", "/api/v1/video/seedance2", {
      prompt: "A glass train crossing a snowy mountain bridge",
      duration: "5",
    });
    path = `/api/v1/tasks/${task.id}`;
  } else {
    const task = await call("POST", "/v1/generate", {
      prompt: "A majestic eagle over golden clouds",
      duration: "4",
    });
    path = `/v1/status?task_id=${task.data.task_id}`;
  }
  for (;;) {
    await sleep(15);
    checkDeadline();
    const answer = await call("GET", path);
    const state = provider === "seedance2ai" ? answer : answer.data;
    if (state.status === "completed") return state.output.video_url;
    if (state.status === "SUCCESS") return state.response[0];
    if (state.status === "failed" || state.status === "FAILED") {
      throw new GiveUp(`the task failed: ${JSON.stringify(state.error ?? state.error_message)}`);
    }
  }
}

try {
  console.log(await generate());
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exit(1);
}
