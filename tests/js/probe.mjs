// The official JavaScript SDKs against a running llm_mock (its URL is argv[2]); prints what they saw as JSON.
// Their stream helpers are stricter than Python's in places: ChatCompletionStream wants a finish_reason,
// MessageStream wants message_stop, ResponseStream wants each content part before its deltas.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
const url = process.argv[2];
const oai = new OpenAI({ baseURL: url + "/v1", apiKey: "x", maxRetries: 0 });
const ant = new Anthropic({ baseURL: url, apiKey: "x", maxRetries: 0 });
const out = {};
for (const msg of ["plain", "tools", "think"]) {
  const r = await oai.chat.completions.create({ model: "m", messages: [{ role: "user", content: msg }] });
  out[`chat ${msg}`] = [r.choices[0].message.content, (r.choices[0].message.tool_calls || []).map(t => t.function.name)];
  const s = oai.chat.completions.stream({ model: "m", messages: [{ role: "user", content: msg }], stream_options: { include_usage: true } });
  const f = await s.finalChatCompletion();
  out[`chat stream ${msg}`] = [f.choices[0].message.content, (f.choices[0].message.tool_calls || []).map(t => [t.function.name, t.function.arguments]), f.usage?.total_tokens];
  const rs = oai.responses.stream({ model: "m", input: msg });
  const fr = await rs.finalResponse();
  out[`resp stream ${msg}`] = [fr.output_text, fr.output.map(o => o.type), fr.usage.total_tokens];
  const rr = await oai.responses.create({ model: "m", input: msg });
  out[`resp ${msg}`] = [rr.output_text, rr.output.map(o => o.type)];
  const m = await ant.messages.create({ model: "c", max_tokens: 100, messages: [{ role: "user", content: msg }] });
  out[`anth ${msg}`] = [m.content.map(b => b.type), m.stop_reason];
  const ms = ant.messages.stream({ model: "c", max_tokens: 100, messages: [{ role: "user", content: msg }] });
  const fm = await ms.finalMessage();
  out[`anth stream ${msg}`] = [fm.content.map(b => b.type === "tool_use" ? ["tool_use", b.input] : b.type), fm.stop_reason, fm.usage.output_tokens];
}
try { await ant.messages.create({ model: "c", max_tokens: 10, messages: [{ role: "user", content: "overload" }] }); } catch (e) { out["anth 529"] = [e.constructor.name, e.status]; }
try { await oai.chat.completions.create({ model: "m", messages: [{ role: "user", content: "ratelimit" }] }); } catch (e) { out["chat 429"] = [e.constructor.name, e.status]; }
try { const s = ant.messages.stream({ model: "c", max_tokens: 100, messages: [{ role: "user", content: "inband" }] }); await s.finalMessage(); out["anth inband"] = "no error!"; } catch (e) { out["anth inband"] = [e.constructor.name, String(e.message).slice(0, 80)]; }
try { const s = oai.responses.stream({ model: "m", input: "failed" }); const f = await s.finalResponse(); out["resp failed"] = ["resolved", f.status]; } catch (e) { out["resp failed"] = [e.constructor.name, String(e.message).slice(0, 80)]; }
try { const s = await oai.chat.completions.create({ model: "m", messages: [{ role: "user", content: "inband" }], stream: true }); for await (const c of s) {} out["chat inband"] = "no error!"; } catch (e) { out["chat inband"] = [e.constructor.name, String(e.message).slice(0, 80)]; }
const models = []; for await (const mm of ant.models.list({ limit: 2 })) models.push(mm.id); out["anth models"] = models;
console.log(JSON.stringify(out, null, 1));
