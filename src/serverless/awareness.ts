// Lifeguard's local health ("LHA-Probe"): a score in 0…max−1 that rises when our own
// probes go unanswered without nacks (we may be the slow one) or when we must refute a
// suspicion of ourselves, and falls on every successful probe. Probe interval and
// timeout are multiplied by score+1, so an unhealthy node slows its own accusations.

export class Awareness {
  private score = 0;

  constructor(private readonly max: number) {}

  get health(): number {
    return this.score;
  }

  applyDelta(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta));
  }

  scale(ms: number): number {
    return ms * (this.score + 1);
  }
}
