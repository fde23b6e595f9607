export const notfn = 5;
export function double(x) { return x * 2; }
export default function (x) { return x + 1; }
export async function useCtx(x, ctx) { return typeof ctx.value; }
