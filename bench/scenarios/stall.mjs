// Scenario stall: the watcher's event loop blocked for 4 s while 30,000 files are created in 100
// watched directories, more than the kernel's queue holds: files reported, overflows reported, CPU
// and peak RSS, by each tree watcher.
import { raceScenario } from '../lib/races.mjs'

export default raceScenario('stall', {
  summary: 'a 4 s stalled event loop during 30,000 creates: nothing lost silently (InotifyTree, watch(), peers)',
  describe: (config) =>
    `${config.stallBlockMs / 1000} s during ${config.stallFiles} creates in ${config.stallDirs} watched dirs`,
})
