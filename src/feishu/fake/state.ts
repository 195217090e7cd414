// What the fake Feishu remembers of external instances (definitions: approvals.ts), and the two ways a
// push changes them (reference §1.4) plus the check diff (§2).
// Invariant: REPLACE makes the stored instance exactly the payload; UPDATE never deletes, changes an
// entity only when its update_time is strictly greater than the stored one, and keeps the fields
// §1.4 calls immutable. Stored values are copies; callers never alias them.
import type { ExternalCc, ExternalInstance, ExternalTask, I18nResource } from '../external-instance.js';
import type { CheckInstance, DiffInstance } from '../payload-schema.js';

export type StoredInstance = Omit<ExternalInstance, 'update_mode'>;

const IMMUTABLE_INSTANCE_FIELDS = new Set([
  'approval_code',
  'instance_id',
  'department_id',
  'department_name',
]);
const IMMUTABLE_TASK_FIELDS = [
  'task_id',
  'user_id',
  'open_id',
  'create_time',
  'node_id',
  'node_name',
] as const;
const IMMUTABLE_CC_FIELDS = ['cc_id', 'user_id', 'open_id', 'create_time'] as const;

export class FakeState {
  readonly #seededApprovals: ReadonlySet<string>;
  readonly #acceptAnyApproval: boolean;
  readonly #instances = new Map<string, StoredInstance>();

  constructor(approvalCodes: readonly string[] | '*') {
    this.#acceptAnyApproval = approvalCodes === '*';
    this.#seededApprovals = new Set(approvalCodes === '*' ? [] : approvalCodes);
  }

  knowsApproval(code: string): boolean {
    return this.#acceptAnyApproval || this.#seededApprovals.has(code);
  }

  instances(): StoredInstance[] {
    return [...this.#instances.values()].map((i) => structuredClone(i));
  }

  instance(id: string): StoredInstance | undefined {
    const found = this.#instances.get(id);
    return found && structuredClone(found);
  }

  /** Applies a validated push; returns an error text for the msg when the push conflicts with the state. */
  apply(
    payload: ExternalInstance,
  ): { ok: true; stored: StoredInstance } | { ok: false; field: string; message: string } {
    const { update_mode: mode = 'REPLACE', ...incoming } = structuredClone(payload);
    const existing = this.#instances.get(incoming.instance_id);
    // Neither mode may move an instance to another definition (reference §1.4); we reject rather
    // than silently keep the old code, so a mapping bug shows up.
    if (existing && existing.approval_code !== incoming.approval_code) {
      return {
        ok: false,
        field: 'approval_code',
        message: `instance ${incoming.instance_id} belongs to approval ${existing.approval_code}`,
      };
    }
    const next = !existing || mode === 'REPLACE' ? incoming : applyUpdate(existing, incoming);
    this.#instances.set(next.instance_id, next);
    return { ok: true, stored: structuredClone(next) };
  }

  check(instances: readonly CheckInstance[]): DiffInstance[] {
    const diffs: DiffInstance[] = [];
    for (const wanted of instances) {
      const stored = this.#instances.get(wanted.instance_id);
      if (!stored) {
        diffs.push({ instance_id: wanted.instance_id, update_time: '0', tasks: [] });
        continue;
      }
      const taskDiffs: { task_id: string; update_time: string }[] = [];
      for (const t of wanted.tasks) {
        const task = stored.task_list?.find((s) => s.task_id === t.task_id);
        if (!task) taskDiffs.push({ task_id: t.task_id, update_time: '0' });
        else if (!sameTime(task.update_time ?? '0', t.update_time))
          taskDiffs.push({ task_id: t.task_id, update_time: task.update_time ?? '0' });
      }
      if (taskDiffs.length > 0 || !sameTime(stored.update_time, wanted.update_time)) {
        diffs.push({ instance_id: wanted.instance_id, update_time: stored.update_time, tasks: taskDiffs });
      }
    }
    return diffs;
  }

  clear(): void {
    this.#instances.clear();
  }
}

function applyUpdate(stored: StoredInstance, incoming: StoredInstance): StoredInstance {
  // An UPDATE whose instance update_time is not above the stored one is ignored as a whole, tasks
  // and CCs included, and still answered with code 0 (feishu-beyond-instances.md §3.6).
  if (!newer(incoming.update_time, stored.update_time)) return structuredClone(stored);
  const next = structuredClone(stored);
  const target = next as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(incoming)) {
    if (value === undefined || IMMUTABLE_INSTANCE_FIELDS.has(key)) continue;
    if (key === 'task_list' || key === 'cc_list' || key === 'i18n_resources') continue;
    target[key] = value;
  }
  next.task_list = mergeEntities<ExternalTask>(
    stored.task_list ?? [],
    incoming.task_list ?? [],
    'task_id',
    IMMUTABLE_TASK_FIELDS,
  );
  next.cc_list = mergeEntities<ExternalCc>(
    stored.cc_list ?? [],
    incoming.cc_list ?? [],
    'cc_id',
    IMMUTABLE_CC_FIELDS,
  );
  // Texts merge so that keys of tasks this push did not touch still resolve.
  next.i18n_resources = mergeTexts(stored.i18n_resources, incoming.i18n_resources);
  return next;
}

function mergeEntities<T extends ExternalTask | ExternalCc>(
  stored: readonly T[],
  incoming: readonly T[],
  idField: 'task_id' | 'cc_id',
  immutable: readonly string[],
): T[] {
  const idOf = (e: T): unknown => (e as unknown as Record<string, unknown>)[idField];
  const out = stored.map((e) => structuredClone(e));
  for (const entity of incoming) {
    const index = out.findIndex((e) => idOf(e) === idOf(entity));
    const current = out[index];
    if (current === undefined) {
      out.push(structuredClone(entity));
      continue;
    }
    // A missing update_time counts as "0", so an entity without one is never updated.
    if (!newer(entity.update_time ?? '0', current.update_time ?? '0')) continue;
    const merged = { ...structuredClone(entity) } as Record<string, unknown>;
    for (const field of immutable) {
      const kept = (current as unknown as Record<string, unknown>)[field];
      if (kept === undefined) delete merged[field];
      else merged[field] = kept;
    }
    out[index] = merged as T;
  }
  return out;
}

function mergeTexts(stored: readonly I18nResource[], incoming: readonly I18nResource[]): I18nResource[] {
  const out = stored.map((r) => structuredClone(r));
  for (const resource of incoming) {
    const target = out.find((r) => r.locale === resource.locale);
    if (!target) {
      out.push(structuredClone(resource));
      continue;
    }
    for (const text of resource.texts) {
      const existing = target.texts.find((t) => t.key === text.key);
      if (existing) existing.value = text.value;
      else target.texts.push({ ...text });
    }
  }
  return out;
}

function newer(candidate: string, current: string): boolean {
  return BigInt(candidate) > BigInt(current);
}

function sameTime(a: string, b: string): boolean {
  return BigInt(a) === BigInt(b);
}
