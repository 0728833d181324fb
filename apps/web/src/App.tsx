import { useTaskMiner } from './taskMiner'
import { useVolunteer } from './volunteer'
import { useWallet } from './wallet'
import { BackendPanel } from './ui/BackendPanel'
import { BlocksPanel } from './ui/BlocksPanel'
import { ClientTasksPanel } from './ui/ClientTasksPanel'
import { Controls } from './ui/Controls'
import { NetworkPanel } from './ui/NetworkPanel'
import { TaskPanel } from './ui/TaskPanel'
import { TrainingPanel } from './ui/TrainingPanel'
import { WalletPanel } from './ui/WalletPanel'
import { ClientView } from './ui/client/ClientView'
import { CLIENT_ROUTE, useHashRoute } from './ui/client/hashRoute'

/** `#/client`: the client's data set upload; anything else: the volunteer view. */
export function App() {
  return useHashRoute() === CLIENT_ROUTE ? <ClientView /> : <VolunteerApp />
}

function VolunteerApp() {
  const wallet = useWallet()
  const { view, start, stop } = useVolunteer(wallet.view.key)
  // client tasks take this tab's compute too: only while the volunteer has started it
  const taskMiner = useTaskMiner(wallet, view.status === 'training')

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <h1>pouw</h1>
          <span className="tagline">proof-of-useful-work volunteer · MNIST MLP</span>
          <a href={CLIENT_ROUTE} className="nav-link" data-testid="nav-client">Upload a data set</a>
        </div>
        <Controls status={view.status} onStart={start} onStop={stop} />
      </header>

      {view.fault ? (
        <div className="banner banner-warn" role="status" data-testid="fault-banner" data-fault={view.fault}>
          <strong>Fault injection active:</strong> <code>{view.fault}</code>. This tab misbehaves on purpose
          (test mode).
        </div>
      ) : null}
      {view.error ? (
        <div className="banner banner-error" role="alert" data-testid="error">
          {view.error}
        </div>
      ) : null}

      <main className="grid">
        <TrainingPanel view={view} />
        <div className="side">
          <TaskPanel task={view.task} />
          <BackendPanel backend={view.backend} selecting={view.status === 'selecting-backend'} />
          <NetworkPanel relay={view.relay} p2p={view.p2p} chain={view.chain} blockSeconds={view.blockSeconds} minerId={view.minerId} />
          <WalletPanel wallet={wallet.view} send={wallet.send} buyTicket={wallet.buyTicket} />
          <ClientTasksPanel miner={taskMiner} />
        </div>
        <BlocksPanel blocks={view.blocks} />
      </main>
    </div>
  )
}
