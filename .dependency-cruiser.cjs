// The layers of src/, top to bottom (docs/design.md draws them). A module may import from its own
// layer or any layer below it, never from one above; no import circle anywhere. `npm test` runs it.
const LAYERS = [
  { name: 'cli', path: '^src/cli/' },
  {
    name: 'app',
    path: '^src/(demo|ops|console)/|^src/(pipeline|loop-stage|start-replica|start-stream|start-http|start-sync|connect-feishu)[.]ts$',
  },
  { name: 'observe', path: '^src/observe/' },
  { name: 'loop', path: '^src/(notify|decisions)/' },
  { name: 'source-sync', path: '^src/(source|sync)/' },
  { name: 'replica', path: '^src/replica/' },
  { name: 'mapping', path: '^src/mapping/' },
  { name: 'feishu', path: '^src/feishu/' },
  { name: 'config', path: '^src/config/' },
  { name: 'core', path: '^src/core/|^src/errors[.]ts$' },
];

const upward = LAYERS.slice(1).map((layer, i) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} sits below ${LAYERS.slice(0, i + 1)
    .map((l) => l.name)
    .join(', ')}: it must not import from them`,
  severity: 'error',
  from: { path: layer.path },
  to: {
    path: LAYERS.slice(0, i + 1)
      .map((l) => `(${l.path})`)
      .join('|'),
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import circle: the modules in it cannot be understood or tested one at a time',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'in-a-layer',
      comment:
        'every module of src/ belongs to one of the layers above (docs/design.md): place a new folder there',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map((l) => `(${l.path})`).join('|') },
      to: {},
    },
    {
      name: 'stages-side-by-side',
      comment: 'source and sync are peers: they meet only through the replica',
      severity: 'error',
      from: { path: '^src/source/' },
      to: { path: '^src/sync/' },
    },
    {
      name: 'stages-side-by-side-back',
      comment: 'source and sync are peers: they meet only through the replica',
      severity: 'error',
      from: { path: '^src/sync/' },
      to: { path: '^src/source/' },
    },
    {
      name: 'fake-feishu-behind-its-door',
      comment: 'the fake Feishu is for the demo, the fake-feishu command and tests, never the connector',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|demo)/|^src/feishu/fake/' },
      to: { path: '^src/feishu/fake/' },
    },
    {
      name: 'src-not-from-tests',
      comment: 'src never imports test or bench code',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
