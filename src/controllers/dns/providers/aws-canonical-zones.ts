/**
 * Route 53 alias targets need the hosted zone id of the AWS service that owns the target
 * name. Values from the AWS General Reference, "Elastic Load Balancing endpoints and quotas"
 * (columns: Application/Classic Load Balancers, Network Load Balancers) and the Route 53
 * AliasTarget documentation (CloudFront, Global Accelerator).
 */

/** Per region: [ALB and Classic ELB zone, NLB zone]. */
const ELB_ZONES: Readonly<Record<string, readonly [alb: string, nlb: string]>> = {
  'us-east-1': ['Z35SXDOTRQ7X7K', 'Z26RNL4JYFTOTI'],
  'us-east-2': ['Z3AADJGX6KTTL2', 'ZLMOA37VPKANP'],
  'us-west-1': ['Z368ELLRRE2KJ0', 'Z24FKFUX50B4VW'],
  'us-west-2': ['Z1H1FL5HABSF5', 'Z18D5FSROUN65G'],
  'af-south-1': ['Z268VQBMOI5EKX', 'Z203XCE67M25HM'],
  'ap-east-1': ['Z3DQVH9N71FHZ0', 'Z12Y7K3UBGUAD1'],
  'ap-south-1': ['ZP97RAFLXTNZK', 'ZVDDRBQ08TROA'],
  'ap-south-2': ['Z0173938T07WNTVAEPZN', 'Z0711778386UTO08407HT'],
  'ap-northeast-1': ['Z14GRHDCWA56QT', 'Z31USIVHYNEOWT'],
  'ap-northeast-2': ['ZWKZPGTI48KDX', 'ZIBE1TIR4HY56'],
  'ap-northeast-3': ['Z5LXEXXYW11ES', 'Z1GWIQ4HH19I5X'],
  'ap-southeast-1': ['Z1LMS91P8CMLE5', 'ZKVM4W9LS7TM'],
  'ap-southeast-2': ['Z1GM3OXH4ZPM65', 'ZCT6FZBF4DROD'],
  'ca-central-1': ['ZQSVJUPU6J1EY', 'Z2EPGBW3API2WT'],
  'eu-central-1': ['Z215JYRZR1TBD5', 'Z3F0SRJ5LGBH90'],
  'eu-west-1': ['Z32O12XQLNTSW2', 'Z2IFOLAFXWLO4F'],
  'eu-west-2': ['ZHURV8PSTC4K8', 'ZD4D7Y8KGAS4G'],
  'eu-west-3': ['Z3Q77PNBQS71R4', 'Z1CMS0P5QUZ6D5'],
  'eu-north-1': ['Z23TAZ6LKFMNIO', 'Z1UDT6IFJ4EJM'],
  'eu-south-1': ['Z3ULH7SSC9OV64', 'Z23146JA1KNAFP'],
  'me-south-1': ['ZS929ML54UICD', 'Z3QSRYVP46NYYV'],
  'sa-east-1': ['Z2P70J7HTTTPLU', 'ZTK26PT1VY4CU'],
  'cn-north-1': ['Z1GDH35T77C1KE', 'Z3QFB96KMJ7ED6'],
  'cn-northwest-1': ['ZM7IZAIOVVDZF', 'ZQEIKTCZ8352D'],
  'us-gov-west-1': ['Z33AYJ8TM3BH4J', 'ZMG1MZ2THAWF1'],
  'us-gov-east-1': ['Z166TLBEWOO7G0', 'Z1ZSMQQ6Q24QQ8'],
};

/** CloudFront distributions, in every region. */
export const CLOUDFRONT_ZONE_ID = 'Z2FDTNDATAQYW2';
/** AWS Global Accelerator. */
export const GLOBAL_ACCELERATOR_ZONE_ID = 'Z2BJ6XQ5FK7U4H';

// ALB/Classic: `name-123.<region>.elb.amazonaws.com` (optionally `dualstack.` in front,
// `internal-` names too); NLB: `name-abc.elb.<region>.amazonaws.com`. China adds `.cn`.
const ALB_HOST = /\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.elb\.amazonaws\.com(?:\.cn)?$/;
const NLB_HOST = /\.elb\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.amazonaws\.com(?:\.cn)?$/;

/**
 * The hosted zone id Route 53 wants in an alias to `host`, when `host` is an AWS load
 * balancer, a CloudFront distribution or a Global Accelerator; undefined otherwise (including
 * load balancers in regions missing from the table).
 */
export function canonicalHostedZone(host: string): string | undefined {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  if (h.endsWith('.cloudfront.net')) return CLOUDFRONT_ZONE_ID;
  if (h.endsWith('.awsglobalaccelerator.com')) return GLOBAL_ACCELERATOR_ZONE_ID;
  const nlb = NLB_HOST.exec(h);
  if (nlb) return ELB_ZONES[nlb[1]!]?.[1];
  const alb = ALB_HOST.exec(h);
  if (alb) return ELB_ZONES[alb[1]!]?.[0];
  return undefined;
}
