// One open tunnel as the data plane carries it: its LAN port on the initiating access
// point, the streams at both access points, and what stops them.
import type { Contact } from "../../contact/mod.ts";
import { oneLine } from "../../quote/mod.ts";
import type { Server, Stack } from "../../xio/mod.ts";
import type { PlaneTunnel } from "../_plane.ts";
import type { StreamRun } from "./_stream.ts";

/** One open tunnel: its LAN port on the initiating access point and its streams. */
export class Carrier {
  readonly id: string;
  readonly lan: Server;
  readonly contact: Contact;
  /** Leg 2's stack (the initiating access point's GSA1 responder), made once. */
  readonly wanStack: Stack;
  readonly abort = new AbortController();
  readonly streams = new Set<StreamRun>();
  readonly tasks = new Set<Promise<void>>();
  snapshot: PlaneTunnel;
  closed = false;
  nextStream = 1;
  loop: Promise<void> = Promise.resolve();

  constructor(snapshot: PlaneTunnel, lan: Server, contact: Contact, wanStack: Stack) {
    this.id = snapshot.id;
    this.snapshot = snapshot;
    this.lan = lan;
    this.contact = contact;
    this.wanStack = wanStack;
  }

  /** Keeps a stream's task until it ends; a task's failure is logged, never thrown. */
  track(task: Promise<void>, log: (text: string) => void): void {
    const guarded = task.catch((error) => log(`stream task failed: ${oneLine(error)}`));
    this.tasks.add(guarded);
    guarded.finally(() => this.tasks.delete(guarded));
  }
}
