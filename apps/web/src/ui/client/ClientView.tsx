import { useState } from 'react'
import type { ImportResult } from '@pouw/trainer'
import { useWallet } from '../../wallet'
import { WalletPanel } from '../WalletPanel'
import { MyTasks } from './MyTasks'
import { TaskForm } from './TaskForm'
import { UploadPanel } from './UploadPanel'

/** The client's page (`#/client`): bring a data set, define the task over it, pay its fee; the tasks this profile paid for. */
export function ClientView() {
  const wallet = useWallet()
  const [upload, setUpload] = useState<{ result: ImportResult; n: number } | null>(null)
  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <h1>pouw</h1>
          <span className="tagline">client · bring a data set</span>
          <a href="#/" className="nav-link" data-testid="nav-volunteer">Volunteer</a>
        </div>
      </header>
      <main className="client-grid">
        <div>
          <UploadPanel onConfirm={(result) => setUpload({ result, n: (upload?.n ?? 0) + 1 })} />
          {/* a new upload starts a new form: its default network follows the data's shape */}
          {upload ? <TaskForm key={upload.n} upload={upload.result} wallet={wallet} /> : null}
          <MyTasks wallet={wallet} />
        </div>
        <WalletPanel wallet={wallet.view} send={wallet.send} />
      </main>
    </div>
  )
}
