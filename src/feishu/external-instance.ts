// The shape of the body of POST /open-apis/approval/v4/external_instances (reference/feishu-api.md §1.2).
// Types only: the zod schema that validates it lives in payload-schema.ts; the mapping builds it, the
// client sends it, the fake checks it.

export type InstanceStatus =
  'PENDING' | 'APPROVED' | 'REJECTED' | 'CANCELED' | 'DELETED' | 'HIDDEN' | 'TERMINATED';
export type TaskStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'TRANSFERRED' | 'DONE';
export type ReadStatus = 'READ' | 'UNREAD';
export type DisplayMethod = 'BROWSER' | 'SIDEBAR' | 'NORMAL' | 'TRUSTEESHIP';
export type UpdateMode = 'REPLACE' | 'UPDATE';

export interface Links {
  pc_link: string;
  mobile_link?: string;
}

export interface FormEntry {
  name: string;
  value: string;
}

export interface I18nResource {
  locale: string;
  is_default: boolean;
  texts: { key: string; value: string }[];
}

export interface ExternalTask {
  task_id: string;
  user_id?: string;
  open_id?: string;
  title?: string;
  links: Links;
  status: TaskStatus;
  extra?: string;
  create_time: string;
  end_time: string;
  update_time?: string;
  action_context?: string;
  action_configs?: {
    action_type: string;
    action_name?: string;
    is_need_reason?: boolean;
    is_reason_required?: boolean;
    is_need_attachment?: boolean;
  }[];
  display_method?: DisplayMethod;
  exclude_statistics?: boolean;
  node_id?: string;
  node_name?: string;
  generate_type?: 'EXTERNAL_CONSIGN' | 'DEFAULT';
}

export interface ExternalCc {
  cc_id: string;
  user_id?: string;
  open_id?: string;
  links: Links;
  read_status: ReadStatus;
  extra?: string;
  title?: string;
  create_time: string;
  update_time: string;
  display_method?: DisplayMethod;
}

export interface ExternalInstance {
  approval_code: string;
  status: InstanceStatus;
  extra?: string;
  instance_id: string;
  links: Links;
  title?: string;
  form?: FormEntry[];
  user_id?: string;
  user_name?: string;
  open_id?: string;
  department_id?: string;
  department_name?: string;
  start_time: string;
  end_time: string;
  update_time: string;
  display_method?: DisplayMethod;
  update_mode?: UpdateMode;
  task_list?: ExternalTask[];
  cc_list?: ExternalCc[];
  i18n_resources: I18nResource[];
}
