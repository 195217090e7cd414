// The fake's approval bot: message/send and message/update as strict as the reference says the real
// API is (feishu-beyond-instances.md §4), the cards each user sees, and the user's click: a card
// action POSTed to the card's action_callback_url exactly as Feishu would (feishu-api.md §4.2, §4.3):
// the token in the body, the body encrypted when the card carries a key, message_id as a JSON number.
// Invariants: a uuid sent again within the hour delivers nothing new (§4.5); only 1008 cards at most
// 30 days old can be updated (§4.10); a card keeps its buttons until an update gives it a status.
import { z } from 'zod';
import {
  actionUrlsComplete,
  messageSendSchema,
  messageUpdateSchema,
  TODO_TEMPLATE,
  type MessageSendBody,
  type MessageUpdateBody,
} from '../bot-message-schema.js';
import { encryptCallback } from '../callback-crypto.js';
import { describeSchemaIssues } from '../payload-schema.js';

const HOUR_MS = 3_600_000;
const UPDATE_WINDOW_MS = 30 * 24 * HOUR_MS;

export interface FakeCard {
  message_id: string;
  user_id: string;
  uuid?: string;
  template_id: string;
  sent_at: number;
  body: MessageSendBody;
  /** Null while the card shows its buttons; the status of the last update otherwise. */
  status: string | null;
  /** status_name of a CUSTOM update, in the default locale. */
  status_text?: string;
  updates: MessageUpdateBody[];
  clicks: { action_type: string; user_id: string; httpStatus: number; answer: string }[];
}

/** What the user sees of one card in their view: texts resolved in the default locale. */
export interface CardView {
  message_id: string;
  title: string;
  summaries: string[];
  status: string | null;
  status_text?: string;
  actions: string[];
}

export interface ActOptions {
  action_type: string;
  reason?: string;
  /** The clicking user; default: the card's recipient. */
  user_id?: string;
  /**
   * A client that has not refreshed the card yet still shows its buttons: the click goes out even
   * though the card was updated (what a late click on a closed task looks like).
   */
  stale?: boolean;
}

export interface ActResult {
  httpStatus: number;
  body: string;
}

export type MessageOutcome =
  { ok: true; data: unknown } | { ok: false; status: number; code: number; msg: string };

export const actSchema = z.object({
  action_type: z.string().min(1),
  reason: z.string().optional(),
  user_id: z.string().optional(),
  stale: z.boolean().optional(),
});

export class FakeBotMessages {
  readonly #cards = new Map<string, FakeCard>();
  readonly #uuids = new Map<string, { messageId: string; at: number }>();
  #next = 7690215892004654266n;
  counters = { sent: 0, deduped: 0, updated: 0, clicks: 0 };

  constructor(private readonly now: () => number) {}

  clear(): void {
    this.#cards.clear();
    this.#uuids.clear();
    this.counters = { sent: 0, deduped: 0, updated: 0, clicks: 0 };
  }

  send(raw: unknown): MessageOutcome {
    const parsed = messageSendSchema.safeParse(raw);
    if (!parsed.success) return invalid(describeSchemaIssues(parsed.error));
    const body = parsed.data;
    // Measured (§3.6): an action without all four URLs is refused with HTTP 200 and code 60001.
    if (!actionUrlsComplete(body))
      return { ok: false, status: 200, code: 60001, msg: 'actionUrls incomplete error' };
    const user = (body.user_id ?? body.open_id) as string;
    if (body.uuid !== undefined) {
      const dedupeKey = body.template_id === '1021' ? `${body.uuid} ${user}` : body.uuid;
      const seen = this.#uuids.get(dedupeKey);
      if (seen && (body.template_id === '1021' || this.now() - seen.at < HOUR_MS)) {
        // The doc says the message is sent once; it does not say what the repeat answers. The fake
        // answers success with the first message's id and delivers nothing.
        this.counters.deduped++;
        return { ok: true, data: { message_id: seen.messageId } };
      }
    }
    const messageId = (this.#next++).toString();
    if (body.uuid !== undefined)
      this.#uuids.set(body.template_id === '1021' ? `${body.uuid} ${user}` : body.uuid, {
        messageId,
        at: this.now(),
      });
    this.#cards.set(messageId, {
      message_id: messageId,
      user_id: user,
      ...(body.uuid === undefined ? {} : { uuid: body.uuid }),
      template_id: body.template_id,
      sent_at: this.now(),
      body: structuredClone(body),
      status: null,
      updates: [],
      clicks: [],
    });
    this.counters.sent++;
    return { ok: true, data: { message_id: messageId } };
  }

  update(raw: unknown): MessageOutcome {
    const parsed = messageUpdateSchema.safeParse(raw);
    if (!parsed.success) return invalid(describeSchemaIssues(parsed.error));
    const body = parsed.data;
    const card = this.#cards.get(body.message_id);
    // The reference documents no code for these; the fake answers them as invalid parameters.
    if (!card) return invalid(`message_id: ${body.message_id} not found`);
    if (card.template_id !== TODO_TEMPLATE)
      return invalid(`message_id: template ${card.template_id} cannot be updated (only 1008)`);
    if (this.now() - card.sent_at > UPDATE_WINDOW_MS)
      return invalid(`message_id: ${body.message_id} is older than 30 days`);
    card.status = body.status;
    const texts = defaultTexts(body.i18n_resources);
    if (body.status_name !== undefined) card.status_text = texts[body.status_name] ?? body.status_name;
    else delete card.status_text;
    card.updates.push(structuredClone(body));
    this.counters.updated++;
    return { ok: true, data: { message_id: body.message_id } };
  }

  cards(): FakeCard[] {
    return [...this.#cards.values()].map((c) => structuredClone(c));
  }

  card(messageId: string): FakeCard | undefined {
    const c = this.#cards.get(messageId);
    return c && structuredClone(c);
  }

  /** The cards of one user, newest first, as their Feishu client shows them. */
  viewOf(userId: string): CardView[] {
    return [...this.#cards.values()]
      .filter((c) => c.user_id === userId)
      .reverse()
      .map((c) => {
        const texts = defaultTexts(c.body.i18n_resources);
        const t = (k: string | undefined) => (k === undefined ? '' : (texts[k] ?? k));
        return {
          message_id: c.message_id,
          title: t(c.body.approval_name),
          summaries: (c.body.content?.summaries ?? []).map((s) => t(s.summary)),
          status: c.status,
          ...(c.status_text === undefined ? {} : { status_text: c.status_text }),
          actions: c.status === null ? (c.body.action_configs ?? []).map((a) => a.action_type) : [],
        };
      });
  }

  /**
   * The user clicks a quick-approval button on a card: Feishu POSTs the card action to the card's
   * callback URL and shows the user the answer. A card without the button (none configured, or
   * already updated to a status) refuses the click like the client would, without a callback.
   */
  async act(messageId: string, options: ActOptions): Promise<ActResult> {
    const card = this.#cards.get(messageId);
    if (!card) return { httpStatus: 404, body: `no card ${messageId}` };
    const callback = card.body.action_callback;
    const offered = (card.body.action_configs ?? []).some((a) => a.action_type === options.action_type);
    if (!callback || !offered || (card.status !== null && !options.stale))
      return { httpStatus: 409, body: `card ${messageId} shows no ${options.action_type} button` };
    const user = options.user_id ?? card.user_id;
    const fields: Record<string, unknown> = {
      action_type: options.action_type,
      ...(callback.action_context === undefined ? {} : { action_context: callback.action_context }),
      user_id: user,
      // A card is not tied to a definition in the fake; the field is required, so it is sent empty.
      approval_code: '',
      message_id: `@@${messageId}@@`,
      ...(options.reason === undefined ? {} : { reason: options.reason }),
      token: callback.action_callback_token,
    };
    // message_id is typed int64 (§4.9): it goes out as a bare number, beyond 2^53.
    const plain = JSON.stringify(fields).replace(`"@@${messageId}@@"`, messageId);
    const text = callback.action_callback_key
      ? JSON.stringify({ encrypt: encryptCallback(callback.action_callback_key, plain) })
      : plain;
    let result: ActResult;
    try {
      const res = await fetch(callback.action_callback_url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: text,
        signal: AbortSignal.timeout(10_000),
      });
      result = { httpStatus: res.status, body: await res.text() };
    } catch (error) {
      result = { httpStatus: 0, body: error instanceof Error ? error.message : String(error) };
    }
    this.counters.clicks++;
    card.clicks.push({
      action_type: options.action_type,
      user_id: user,
      httpStatus: result.httpStatus,
      answer: result.body,
    });
    return result;
  }
}

function invalid(detail: string): MessageOutcome {
  return { ok: false, status: 400, code: 1390001, msg: `param is invalid: ${detail}` };
}

function defaultTexts(resources: MessageSendBody['i18n_resources']): Record<string, string> {
  const chosen = resources.find((r) => r.is_default) ?? resources[0];
  return { ...(chosen?.texts ?? {}) };
}
