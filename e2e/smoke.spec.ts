import { expect, getStatus, test } from './testnet'

test('@smoke page loads', async ({ page, testnet }) => {
  const net = await testnet()

  const status = await getStatus(net.url)
  expect(status.height).toBeGreaterThanOrEqual(0)

  await page.goto(net.url)
  await expect(page.getByTestId('start')).toBeVisible()
  await expect(page.getByTestId('status')).not.toBeEmpty()
})
