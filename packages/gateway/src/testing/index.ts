/** Test and benchmark helpers: `@sluice/gateway/testing`. Not part of the runtime. */
export {};
